"""Brisk python launcher, started by the action proxy once per container as

    python3 launcher.py <entry> <actionDir> <text|archive>

It imports <actionDir>/__main__.py as module "main__", reports {"ok": true}
or {"error": ...} on fd 3, then serves one activation per stdin line
({"id": N, "value": ..., "env": {...}}), one at a time, and answers each with
exactly one line on fd 3, "id" first:

    {"id": N, "result": <dict or list>}             the activation's result
    {"id": N, "error": "<message>", "status": 502}  a developer error
    {"id": N, "cancelled": true}                    the answer to {"id": N, "cancel": true}

An uncaught exception in the action is an application error: its traceback
goes to stderr and the result is {"error": str(exception)}. After each
activation the launcher flushes stdout and stderr and writes the log sentinel
on both, tagged "\x01<activation id>\x02" when the activation has an id
(see actions/proxy/doc.go), and only then the reply: the user's output
precedes the sentinel. The user's own lines are not tagged: one activation
runs at a time, so they belong to the one running.
"""

import glob
import importlib.util
import json
import os
import site
import sys
import traceback

REPLY_FD = 3
SENTINEL = b"XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"


def flush_user_output():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken stream must not stop us
            pass


class Replier:
    def __init__(self, fd):
        self.out = os.fdopen(fd, "wb")

    def line(self, text):
        flush_user_output()
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "replace")
        self.out.write(data + b"\n")
        self.out.flush()

    def send(self, rid, obj):
        """Sends obj as the reply to request rid ("id" first)."""
        self.member(rid, json.dumps(obj, ensure_ascii=False)[1:-1])

    def member(self, rid, members):
        """Sends {"id": rid, <members>}; members is JSON object text without braces."""
        self.line('{"id":%s,%s}' % (json.dumps(rid), members))


def tag_for(activation_id):
    """The log tag for an activation id, or b"" when the id cannot tag
    (missing, empty, or holding control characters), the proxy's rule."""
    if not isinstance(activation_id, str) or not activation_id or any(ord(c) < 0x20 for c in activation_id):
        return b""
    return b"\x01" + activation_id.encode("utf-8", "replace") + b"\x02"


def write_fd(fd, data):
    while data:
        data = data[os.write(fd, data):]


def end_activation(tag):
    """Writes the activation's sentinel on stdout and stderr, after its output."""
    flush_user_output()
    for fd in (1, 2):
        try:
            write_fd(fd, tag + SENTINEL)
        except OSError:
            pass


class EntrypointError(Exception):
    """The module loaded but has no callable entry point."""


def describe(ex):
    if isinstance(ex, EntrypointError):
        return str(ex)
    if isinstance(ex, SystemExit):
        return "the action exited during initialization (exit code %r)" % (ex.code,)
    return "".join(traceback.format_exception_only(type(ex), ex)).strip()


def print_user_traceback(ex, action_dir):
    """Prints ex to stderr without the launcher's and importlib's frames."""
    tb = ex.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith(action_dir):
        tb = tb.tb_next
    traceback.print_exception(type(ex), ex, tb)


def load(entry, action_dir):
    for packages in glob.glob(os.path.join(action_dir, "virtualenv", "lib", "python*", "site-packages")):
        site.addsitedir(packages)
    sys.path.insert(0, action_dir)
    os.chdir(action_dir)
    source = os.path.join(action_dir, "__main__.py")
    sys.argv = [source]
    spec = importlib.util.spec_from_file_location("main__", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules["main__"] = module
    spec.loader.exec_module(module)
    fn = getattr(module, entry, None)
    if not callable(fn):
        raise EntrypointError("Action entrypoint '%s' is not a function." % entry)
    return fn


class Env:
    """Applies each activation's __OW_* variables, restoring the ones a
    previous activation set but the current one does not."""

    def __init__(self):
        self.base = dict(os.environ)
        self.keys = []

    def apply(self, env):
        for k in self.keys:
            if k in env:
                continue
            if k in self.base:
                os.environ[k] = self.base[k]
            else:
                os.environ.pop(k, None)
        for k, v in env.items():
            os.environ[k] = str(v)
        self.keys = list(env)


def serve(fn, env, line, reply, action_dir):
    try:
        msg = json.loads(line)
        rid = msg["id"]
    except (ValueError, TypeError, KeyError) as ex:
        reply.line(json.dumps({"error": "Internal system error: invalid activation message: %s" % ex, "status": 502}))
        return
    if msg.get("cancel") is True:
        reply.member(rid, '"cancelled":true')  # one at a time: nothing to cancel
        return
    run_env = msg.get("env") or {}
    result = run_one(fn, env, run_env, msg, action_dir)
    end_activation(tag_for(run_env.get("__OW_ACTIVATION_ID")))
    if isinstance(result, str):
        reply.member(rid, result)
    else:
        reply.send(rid, result)


def run_one(fn, env, run_env, msg, action_dir):
    """Runs one activation; returns the reply's members as JSON text, or a
    dict for an error reply."""
    env.apply(run_env)
    args = msg.get("value")
    if args is None:
        args = {}
    try:
        result = fn(args)
        if hasattr(result, "__await__"):
            import asyncio  # imported on first use: it costs ~100 ms of every cold start

            result = asyncio.run(result) if asyncio.iscoroutine(result) else asyncio.run(_await(result))
    except Exception as ex:
        print_user_traceback(ex, action_dir)
        result = {"error": str(ex)}
    if result is None:
        result = {}
    if not isinstance(result, (dict, list)):
        print("Result must be of type dict but has type %r" % type(result).__name__, file=sys.stderr)
        return {"error": "The action did not return a dictionary.", "status": 502}
    try:
        text = json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as ex:
        return {"error": "The action result cannot be serialized to JSON: %s" % ex, "status": 502}
    return '"result":' + text


async def _await(awaitable):
    return await awaitable


def main():
    if len(sys.argv) < 3:
        # Prestarted: the first stdin line says what to load.
        init = json.loads(sys.stdin.buffer.readline())
        entry, action_dir = init["entry"], init["dir"]
        os.environ.update(init.get("env") or {})
    else:
        entry, action_dir = sys.argv[1], sys.argv[2]
    reply = Replier(REPLY_FD)
    try:
        fn = load(entry, action_dir)
    except BaseException as ex:  # includes SystemExit from top-level code
        if isinstance(ex, EntrypointError):
            print("Error during initialization: %s" % ex, file=sys.stderr)
        else:
            print_user_traceback(ex, action_dir)
        reply.line(json.dumps({"error": describe(ex)}, ensure_ascii=False))
        return 1
    reply.line('{"ok":true}')
    env = Env()
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return 0
        serve(fn, env, line, reply, action_dir)


if __name__ == "__main__":
    sys.exit(main())
