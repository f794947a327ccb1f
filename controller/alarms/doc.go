// Package alarms is Brisk's built-in alarms feed provider: the
// /whisk.system/alarms package with its three feeds, "alarm" (cron),
// "interval" (every N minutes) and "once" (one date), and the scheduler
// that fires the triggers they configure.
//
// Upstream OpenWhisk ships alarms as a separate service: three nodejs feed
// actions that forward each lifecycle event to a web action, which keeps the
// triggers in an "alarmservice" CouchDB database that a provider process
// follows and fires over HTTP with each trigger's API key. Brisk keeps the
// contract clients see and drops the moving parts:
//
//   - The package and the three feed actions are ordinary entity documents,
//     created at start when missing (annotation feed=true, upstream's
//     descriptions and parameters), so clients list, read and invoke them as
//     usual, with the usual resolution and entitlement. Their code is a stub
//     that never runs: Start registers each action with the controller as a
//     controller.SystemAction, which the controller's one activation path
//     runs in process instead of publishing it to an invoker, recording the
//     activation like any other.
//   - The lifecycle events are upstream's (lifecycleEvent CREATE, READ,
//     UPDATE, DELETE, with triggerName and authKey, sent blocking by the wsk
//     CLI and the npm client's feeds API), with upstream's parameters
//     (cron, timezone, strict, minutes, date, deleteAfterFire, startDate,
//     stopDate, maxTriggers, trigger_payload), validations, messages and
//     results. PAUSE and UNPAUSE are added: they disable and re-enable a
//     schedule without forgetting it. The authKey must belong to the
//     invoking namespace and be able to read the trigger, as upstream checks.
//   - Each schedule is one document in the entities database under the id
//     "alarms:<namespace>/<trigger>", a space no entity can use, shaped like
//     upstream's provider documents (so that none of the entity views list
//     it). Schedules are loaded at start, so they survive a restart: a cron
//     or interval alarm resumes at its next fire, a missed "once" alarm is
//     disabled as upstream's provider does.
//   - The scheduler is one goroutine over a heap of next fire times; due
//     fires go to a bounded queue served by a few workers, which fire the
//     trigger through Controller.FireTrigger, the path POST
//     .../triggers/{name} takes (throttle, rules fan-out, trigger activation
//     record), as the owner of the authKey. Failures are handled like
//     upstream's provider: a 4xx other than 408, 409 and 429 (the trigger or
//     the key is gone) disables the schedule with the reason; other failures
//     are retried a few times. A schedule is disabled after its last fire
//     (once, stopDate, maxTriggers), or deleted with its trigger (and rules)
//     for once with deleteAfterFire.
//
// In a distributed deployment only one controller may run the scheduler
// (a leader duty, with controller/cluster); every controller can serve the
// lifecycle events.
package alarms
