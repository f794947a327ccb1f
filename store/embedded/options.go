package embedded

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/go-kivik/kivik/v4/driver"
)

// optionMap applies kivik options (kivik.Param, kivik.Params, kivik.Rev,
// kivik.IncludeDocs, ...) to a map, as CouchDB drivers do.
func optionMap(options driver.Options) map[string]any {
	m := map[string]any{}
	if options != nil {
		options.Apply(m)
	}
	return m
}

// queryOpts are the parsed options of AllDocs and Query.
type queryOpts struct {
	startKey, endKey     any
	hasStart, hasEnd     bool
	startDocID, endDocID string
	hasStartID, hasEndID bool
	keys                 []any // from key or keys
	hasKeys              bool
	descending           bool
	inclusiveEnd         bool
	skip                 int
	limit                int // -1: no limit
	includeDocs          bool
	reduce               *bool
	group                bool
	groupLevel           int
	hasGroupLevel        bool
}

// parseQueryOpts reads the view/_all_docs options. Keys take Go values, as
// with kivik's couchdb driver: a json.RawMessage is parsed as JSON, anything
// else is the key itself (so the Go string "a" is the key "a").
func parseQueryOpts(options driver.Options) (*queryOpts, error) {
	m := optionMap(options)
	q := &queryOpts{inclusiveEnd: true, limit: -1}
	var err error
	for _, name := range []string{"startkey", "start_key"} {
		if v, ok := m[name]; ok {
			if q.startKey, err = normalizeKey(v); err != nil {
				return nil, errQueryParse("%s: %v", name, err)
			}
			q.hasStart = true
		}
	}
	for _, name := range []string{"endkey", "end_key"} {
		if v, ok := m[name]; ok {
			if q.endKey, err = normalizeKey(v); err != nil {
				return nil, errQueryParse("%s: %v", name, err)
			}
			q.hasEnd = true
		}
	}
	for _, name := range []string{"startkey_docid", "start_key_doc_id"} {
		if v, ok := m[name]; ok {
			if q.startDocID, err = stringOpt(name, v); err != nil {
				return nil, err
			}
			q.hasStartID = true
		}
	}
	for _, name := range []string{"endkey_docid", "end_key_doc_id"} {
		if v, ok := m[name]; ok {
			if q.endDocID, err = stringOpt(name, v); err != nil {
				return nil, err
			}
			q.hasEndID = true
		}
	}
	if v, ok := m["key"]; ok {
		k, err := normalizeKey(v)
		if err != nil {
			return nil, errQueryParse("key: %v", err)
		}
		q.keys, q.hasKeys = []any{k}, true
	}
	if v, ok := m["keys"]; ok {
		if q.hasKeys {
			return nil, errQueryParse("`keys` is incompatible with `key`")
		}
		k, err := normalizeKey(v)
		if err != nil {
			return nil, errQueryParse("keys: %v", err)
		}
		arr, isArr := k.([]any)
		if !isArr {
			return nil, errQueryParse("`keys` member must be an array")
		}
		q.keys, q.hasKeys = arr, true
	}
	if q.hasKeys && (q.hasStart || q.hasEnd) {
		return nil, errQueryParse("`key(s)` is incompatible with `start_key` and `end_key`")
	}
	if q.descending, err = boolOpt(m, "descending", false); err != nil {
		return nil, err
	}
	if q.inclusiveEnd, err = boolOpt(m, "inclusive_end", true); err != nil {
		return nil, err
	}
	if q.includeDocs, err = boolOpt(m, "include_docs", false); err != nil {
		return nil, err
	}
	if q.group, err = boolOpt(m, "group", false); err != nil {
		return nil, err
	}
	if _, ok := m["reduce"]; ok {
		r, err := boolOpt(m, "reduce", true)
		if err != nil {
			return nil, err
		}
		q.reduce = &r
	}
	if q.skip, err = intOpt(m, "skip", 0); err != nil {
		return nil, err
	}
	if q.limit, err = intOpt(m, "limit", -1); err != nil {
		return nil, err
	}
	if _, ok := m["limit"]; ok && q.limit < 0 {
		return nil, errQueryParse("limit must be a non-negative integer")
	}
	if q.skip < 0 {
		return nil, errQueryParse("skip must be a non-negative integer")
	}
	if _, ok := m["group_level"]; ok {
		if q.groupLevel, err = intOpt(m, "group_level", 0); err != nil {
			return nil, err
		}
		if q.groupLevel < 0 {
			return nil, errQueryParse("group_level must be a non-negative integer")
		}
		q.hasGroupLevel = true
	}
	return q, nil
}

func stringOpt(name string, v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case json.RawMessage:
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return "", errQueryParse("%s must be a string: %v", name, err)
		}
		return s, nil
	}
	return "", errQueryParse("%s must be a string, got %T", name, v)
}

func boolOpt(m map[string]any, name string, def bool) (bool, error) {
	v, ok := m[name]
	if !ok {
		return def, nil
	}
	switch t := v.(type) {
	case bool:
		return t, nil
	case string:
		b, err := strconv.ParseBool(t)
		if err != nil {
			return false, errQueryParse("invalid boolean for %s: %q", name, t)
		}
		return b, nil
	}
	return false, errQueryParse("invalid boolean for %s: %v (%T)", name, v, v)
}

func intOpt(m map[string]any, name string, def int) (int, error) {
	v, ok := m[name]
	if !ok {
		return def, nil
	}
	switch t := v.(type) {
	case int:
		return t, nil
	case int8:
		return int(t), nil
	case int16:
		return int(t), nil
	case int32:
		return int(t), nil
	case int64:
		return int(t), nil
	case uint:
		return int(t), nil
	case uint8:
		return int(t), nil
	case uint16:
		return int(t), nil
	case uint32:
		return int(t), nil
	case uint64:
		if t > math.MaxInt32 {
			return math.MaxInt32, nil
		}
		return int(t), nil
	case float64:
		if t != math.Trunc(t) {
			return 0, errQueryParse("invalid integer for %s: %v", name, t)
		}
		return int(t), nil
	case string:
		n, err := strconv.Atoi(t)
		if err != nil {
			return 0, errQueryParse("invalid integer for %s: %q", name, t)
		}
		return n, nil
	}
	return 0, errQueryParse("invalid integer for %s: %v (%T)", name, v, v)
}

// revOpt returns the "rev" option, if any.
func revOpt(options driver.Options) (string, error) {
	m := optionMap(options)
	v, ok := m["rev"]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", errBadRequest("rev must be a string, got %T", v)
	}
	return s, nil
}
