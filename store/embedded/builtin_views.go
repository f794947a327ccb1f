package embedded

import "strings"

// Design doc and view names of the upstream OpenWhisk views shipped with the
// driver (store/designdocs, upstream's design documents). Each Map is a line-by-line
// translation of the JavaScript map function.
const (
	DDocWhisks        = "whisks.v2.1.0"         // whisks and activations dbs
	DDocWhisksFilters = "whisks-filters.v2.1.1" // activations db (upstream's name)
	// DDocWhisksFiltersBrisk is the name Brisk installs and queries the same
	// view under (store.FiltersDesignDoc): upstream's map with its loop
	// variable declared, so that it also evaluates in strict mode.
	DDocWhisksFiltersBrisk  = "whisks-filters.v2.1.1-brisk.1"
	DDocActivations         = "activations"          // activations db
	DDocLogCleanup          = "logCleanup"           // activations db
	DDocSubjects            = "subjects.v2.0.0"      // subjects db
	DDocNamespaceThrottling = "namespaceThrottlings" // subjects db
)

// builtinVersion is the Version of every built-in view; bump it when a
// translation changes so existing indexes are rebuilt.
const builtinVersion = "builtin-1"

func init() {
	RegisterView(DDocWhisks, "actions", View{Map: mapActions, Reduce: "_count", Version: builtinVersion})
	RegisterView(DDocWhisks, "packages", View{Map: mapPackages, Reduce: "_count", Version: builtinVersion})
	RegisterView(DDocWhisks, "packages-public", View{Map: mapPublicPackages, Reduce: "_count", Version: builtinVersion})
	RegisterView(DDocWhisks, "triggers", View{Map: mapTriggers, Reduce: "_count", Version: builtinVersion})
	RegisterView(DDocWhisks, "rules", View{Map: mapRules, Reduce: "_count", Version: builtinVersion})
	RegisterView(DDocWhisks, "activations", View{Map: mapActivations, Reduce: "_count", Version: builtinVersion})
	RegisterView(DDocWhisksFilters, "activations", View{Map: mapActivationsFiltered, Reduce: "_count", Version: builtinVersion})
	RegisterView(DDocWhisksFiltersBrisk, "activations", View{Map: mapActivationsFiltered, Reduce: "_count", Version: builtinVersion})
	RegisterView(DDocActivations, "byDate", View{Map: mapActivationsByDate, Version: builtinVersion})
	RegisterView(DDocLogCleanup, "byDateWithLogs", View{Map: mapActivationsWithLogs, Version: builtinVersion})
	RegisterView(DDocSubjects, "identities", View{Map: mapIdentities, Version: builtinVersion})
	RegisterView(DDocNamespaceThrottling, "blockedNamespaces", View{Map: mapBlockedNamespaces, Reduce: "_sum", Version: builtinVersion})
}

// emitEntity emits [namespace, updated] and, for a package-scoped entity,
// [root namespace, updated] (actions, triggers, rules).
func emitEntity(doc map[string]any, value any, emit func(key, value any)) {
	namespace := prop(doc, "namespace")
	root := split(namespace, "/")[0]
	updated := prop(doc, "updated")
	emit([]any{namespace, updated}, value)
	if root != namespace {
		emit([]any{root, updated}, value)
	}
}

// whisks.v2.1.0/actions: docs with exec.
func mapActions(doc map[string]any, emit func(key, value any)) {
	if prop(doc, "exec") == undefined {
		return
	}
	split(prop(doc, "namespace"), "/")
	value := map[string]any{}
	copyProps(value, doc, "namespace", "name", "version", "publish", "annotations", "limits")
	value["exec"] = map[string]any{"binary": or(prop(prop(doc, "exec"), "binary"), false)}
	set(value, "updated", prop(doc, "updated"))
	emitEntity(doc, value, emit)
}

// whisks.v2.1.0/packages: docs with binding.
func mapPackages(doc map[string]any, emit func(key, value any)) {
	binding := prop(doc, "binding")
	if binding == undefined {
		return
	}
	value := map[string]any{}
	copyProps(value, doc, "namespace", "name", "version", "publish", "annotations", "updated")
	if objectKeysLen(binding) > 0 {
		value["binding"] = binding
	} else {
		value["binding"] = false
	}
	emit([]any{prop(doc, "namespace"), prop(doc, "updated")}, value)
}

// whisks.v2.1.0/packages-public: published packages that are not bindings.
func mapPublicPackages(doc map[string]any, emit func(key, value any)) {
	binding := prop(doc, "binding")
	if !truthy(binding) || !truthy(prop(doc, "publish")) || objectKeysLen(binding) != 0 {
		return
	}
	value := map[string]any{}
	copyProps(value, doc, "namespace", "name", "version", "publish", "annotations", "updated")
	value["binding"] = false
	emit([]any{prop(doc, "namespace"), prop(doc, "updated")}, value)
}

// whisks.v2.1.0/triggers: no exec, no binding, has parameters.
func mapTriggers(doc map[string]any, emit func(key, value any)) {
	if prop(doc, "exec") != undefined || prop(doc, "binding") != undefined || prop(doc, "parameters") == undefined {
		return
	}
	split(prop(doc, "namespace"), "/")
	value := map[string]any{}
	copyProps(value, doc, "namespace", "name", "version", "publish", "annotations", "updated")
	emitEntity(doc, value, emit)
}

// whisks.v2.1.0/rules: docs with trigger; value 1.
func mapRules(doc map[string]any, emit func(key, value any)) {
	if prop(doc, "trigger") == undefined {
		return
	}
	emitEntity(doc, 1, emit)
}

// summarizeActivation is the views' summarize(doc).
func summarizeActivation(doc map[string]any) map[string]any {
	endtime := prop(doc, "end")
	if isZero(endtime) {
		endtime = undefined
	}
	value := map[string]any{}
	copyProps(value, doc, "namespace", "name", "version", "publish", "annotations", "activationId", "start")
	set(value, "end", endtime)
	if endtime != undefined {
		value["duration"] = minus(endtime, prop(doc, "start"))
	}
	set(value, "cause", prop(doc, "cause"))
	if endtime != undefined {
		if response := prop(doc, "response"); response != undefined {
			set(value, "statusCode", prop(response, "statusCode"))
		}
	}
	return value
}

// whisks.v2.1.0/activations: key [namespace, start].
func mapActivations(doc map[string]any, emit func(key, value any)) {
	if prop(doc, "activationId") == undefined {
		return
	}
	value := summarizeActivation(doc)
	emit([]any{prop(doc, "namespace"), prop(doc, "start")}, value)
}

// whisks-filters.v2.1.1/activations (and -brisk.1): key ["<namespace>/<name or pkg/name>", start].
func mapActivationsFiltered(doc map[string]any, emit func(key, value any)) {
	if prop(doc, "activationId") == undefined {
		return
	}
	value := summarizeActivation(doc)
	key := jsString(prop(doc, "namespace")) + "/" + jsString(activationPathFilter(doc))
	emit([]any{key, prop(doc, "start")}, value)
}

// activationPathFilter is the view's pathFilter(doc): the action name,
// prefixed by its package when it ran in one (from the binding or path
// annotation).
func activationPathFilter(doc map[string]any) any {
	annotations := prop(doc, "annotations")
	length := prop(annotations, "length")
	var path, binding any = undefined, undefined
	if list, ok := annotations.([]any); ok {
		n, _ := length.(float64)
		for i := 0; float64(i) < n; i++ {
			a := list[i]
			if looseEqualsString(prop(a, "key"), "path") {
				path = prop(a, "value")
			}
			if looseEqualsString(prop(a, "key"), "binding") {
				binding = prop(a, "value")
			}
		}
	}
	name := prop(doc, "name")
	// The JavaScript wraps the rest in try/catch returning doc.name: only a
	// non-string binding or path can throw (no split method).
	if truthy(binding) {
		s, ok := binding.(string)
		if !ok {
			return name
		}
		b := strings.Split(s, "/")
		pkg := "undefined"
		if len(b) > 1 {
			pkg = b[1]
		}
		return pkg + "/" + jsString(name)
	}
	if truthy(path) {
		s, ok := path.(string)
		if !ok {
			return name
		}
		if p := strings.Split(s, "/"); len(p) == 3 {
			return p[1] + "/" + jsString(name)
		}
		return name
	}
	return name
}

// activations/byDate: key start, value [_id, _rev].
func mapActivationsByDate(doc map[string]any, emit func(key, value any)) {
	if prop(doc, "activationId") == undefined {
		return
	}
	emit(prop(doc, "start"), []any{prop(doc, "_id"), prop(doc, "_rev")})
}

// logCleanup/byDateWithLogs: activations with logs that are not sequences;
// key start, value _id.
func mapActivationsWithLogs(doc map[string]any, emit func(key, value any)) {
	if prop(doc, "activationId") == undefined {
		return
	}
	logs := prop(doc, "logs")
	if !truthy(logs) {
		return
	}
	if n, ok := prop(logs, "length").(float64); !ok || n <= 0 {
		return
	}
	annotations := prop(doc, "annotations")
	length := prop(annotations, "length")
	deleteLogs := true
	if list, ok := annotations.([]any); ok {
		n, _ := length.(float64)
		for i := 0; float64(i) < n; i++ {
			a := list[i]
			if looseEqualsString(prop(a, "key"), "kind") {
				deleteLogs = !looseEqualsString(prop(a, "value"), "sequence")
				break
			}
		}
	}
	if deleteLogs {
		emit(prop(doc, "start"), prop(doc, "_id"))
	}
}

// subjects.v2.0.0/identities: for each namespace of a subject that is not
// blocked, rows [name] and [uuid, key]; the value's _id links to the
// namespace's limits doc for include_docs.
func mapIdentities(doc map[string]any, emit func(key, value any)) {
	namespaces := prop(doc, "namespaces")
	if !truthy(namespaces) || truthy(prop(doc, "blocked")) {
		return
	}
	forEach(namespaces, func(ns any) {
		name := prop(ns, "name")
		value := map[string]any{"_id": jsString(name) + "/limits"}
		set(value, "namespace", name)
		set(value, "uuid", prop(ns, "uuid"))
		set(value, "key", prop(ns, "key"))
		emit([]any{name}, value)
		emit([]any{prop(ns, "uuid"), prop(ns, "key")}, value)
	})
}

// namespaceThrottlings/blockedNamespaces: namespaces whose limits doc sets
// concurrentInvocations or invocationsPerMinute to 0, and every namespace of
// a blocked subject; value 1, reduce _sum.
func mapBlockedNamespaces(doc map[string]any, emit func(key, value any)) {
	id := jsString(prop(doc, "_id"))
	if strings.Contains(id, "/limits") {
		if isZero(prop(doc, "concurrentInvocations")) || isZero(prop(doc, "invocationsPerMinute")) {
			emit(strings.Replace(id, "/limits", "", 1), 1)
		}
		return
	}
	if truthy(prop(doc, "subject")) && truthy(prop(doc, "namespaces")) && truthy(prop(doc, "blocked")) {
		forEach(prop(doc, "namespaces"), func(ns any) {
			emit(prop(ns, "name"), 1)
		})
	}
}
