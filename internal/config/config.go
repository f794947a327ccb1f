// Package config loads the YAML configuration of Brisk's distributed roles
// (`brisk controller`, `brisk invoker`): defaults, then the file, then
// BRISK_* environment variables, then command-line flags, each overriding
// the one before. Annotated samples of every setting are in the repository's
// config/ directory.
//
// Every setting has one name, used three ways: the YAML key is its path
// (couchdb.url), and the struct tag `flag:"couchdb"` names the flag
// (--couchdb) and the environment variable (BRISK_COUCHDB: upper case, "-"
// as "_"). Lists are comma-separated in flags and variables.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable the loader reads.
const EnvPrefix = "BRISK_"

// ConfigFlag is the flag (and BRISK_CONFIG the variable) naming the file.
const ConfigFlag = "config"

// maxFileBytes bounds a configuration file.
const maxFileBytes = 1 << 20

// Load fills dst, a pointer to a struct holding the defaults, from the file
// named by --config (or BRISK_CONFIG), then the environment, then the other
// flags in args. fs gets one flag per setting (plus --config); its usage
// shows the value each setting has before the flags. It returns the file
// read ("" if none).
func Load(dst any, fs *flag.FlagSet, args []string, environ []string) (string, error) {
	root := reflect.ValueOf(dst)
	if root.Kind() != reflect.Pointer || root.Elem().Kind() != reflect.Struct {
		return "", errors.New("config: Load needs a pointer to a struct")
	}
	fields, err := settings(root.Elem(), nil)
	if err != nil {
		return "", err
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	file := env[EnvName(ConfigFlag)]
	if f, ok := flagValue(args, ConfigFlag); ok {
		file = f
	}
	if file != "" {
		if err := decodeFile(file, dst); err != nil {
			return "", err
		}
	}
	for _, s := range fields {
		if v, ok := env[EnvName(s.flag)]; ok {
			if err := s.Set(v); err != nil {
				return "", fmt.Errorf("%s: %w", EnvName(s.flag), err)
			}
		}
	}
	fs.String(ConfigFlag, file, "YAML configuration `file` (settings in it are overridden by BRISK_* variables and flags)")
	for _, s := range fields {
		fs.Var(s, s.flag, s.usage+" ("+s.key+")")
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return file, nil
}

// EnvName is the environment variable of a flag: BRISK_ and the flag's name
// in upper case with "-" as "_".
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Keys lists the YAML paths of every setting of the struct v points to, in
// declaration order (for documentation checks).
func Keys(v any) ([]string, error) {
	fields, err := settings(reflect.ValueOf(v).Elem(), nil)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return keys, nil
}

// decodeFile reads a YAML file into dst, refusing keys dst does not have.
func decodeFile(name string, dst any) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return fmt.Errorf("config file %s: %w", name, err)
	}
	if len(data) > maxFileBytes {
		return fmt.Errorf("config file %s: larger than %d bytes", name, maxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", name, err)
	}
	return nil
}

// flagValue finds the last -name/--name value in args (stopping at "--").
func flagValue(args []string, name string) (string, bool) {
	var val string
	found := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		n := strings.TrimLeft(a, "-")
		if n == a || len(a)-len(n) > 2 {
			continue
		}
		if k, v, ok := strings.Cut(n, "="); ok && k == name {
			val, found = v, true
		} else if n == name && i+1 < len(args) {
			val, found = args[i+1], true
			i++
		}
	}
	return val, found
}

// setting is one leaf field: a flag.Value over the struct field.
type setting struct {
	key, flag, usage string
	// redact hides a URL's password where the value is shown (usage).
	redact bool
	v      reflect.Value
}

// settings walks a struct's fields: nested structs are sections, every
// other field with a yaml tag is a setting and needs a flag tag.
func settings(v reflect.Value, path []string) ([]*setting, error) {
	var out []*setting
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		p := append(append([]string(nil), path...), name)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
			sub, err := settings(v.Field(i), p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		fl := f.Tag.Get("flag")
		if fl == "" {
			return nil, fmt.Errorf("config: setting %s has no flag tag", strings.Join(p, "."))
		}
		switch f.Type {
		case reflect.TypeFor[string](), reflect.TypeFor[int](), reflect.TypeFor[bool](), reflect.TypeFor[float64](),
			reflect.TypeFor[time.Duration](), reflect.TypeFor[[]string]():
		default:
			return nil, fmt.Errorf("config: setting %s has unsupported type %s", strings.Join(p, "."), f.Type)
		}
		out = append(out, &setting{key: strings.Join(p, "."), flag: fl, usage: f.Tag.Get("usage"),
			redact: f.Tag.Get("redact") == "url", v: v.Field(i)})
	}
	return out, nil
}

// String implements flag.Value.
func (s *setting) String() string {
	if s == nil || !s.v.IsValid() {
		return ""
	}
	switch x := s.v.Interface().(type) {
	case []string:
		return strings.Join(x, ",")
	case time.Duration:
		return x.String()
	case string:
		if u, err := url.Parse(x); s.redact && err == nil {
			return u.Redacted()
		}
		return x
	default:
		return fmt.Sprint(x)
	}
}

// IsBoolFlag lets boolean settings be given as --name alone.
func (s *setting) IsBoolFlag() bool { return s.v.Kind() == reflect.Bool }

// Set implements flag.Value.
func (s *setting) Set(raw string) error {
	switch s.v.Interface().(type) {
	case string:
		s.v.SetString(raw)
	case int:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("%q is not an integer", raw)
		}
		s.v.SetInt(int64(n))
	case bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("%q is not a boolean", raw)
		}
		s.v.SetBool(b)
	case float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		s.v.SetFloat(f)
	case time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("%q is not a duration (like 90s or 1h)", raw)
		}
		s.v.SetInt(int64(d))
	case []string:
		var list []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		s.v.Set(reflect.ValueOf(list))
	}
	return nil
}

// PrintDefaults writes the flags of fs to its output as flag.PrintDefaults
// does, but names each setting's value by its type (string, int, number,
// duration, list; booleans take none) rather than "value".
func PrintDefaults(fs *flag.FlagSet) {
	w := fs.Output()
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		if s, ok := f.Value.(*setting); ok {
			name = s.typeName()
		}
		line := "  -" + f.Name
		if name != "" {
			line += " " + name
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintln(w, line)
	})
}

// typeName names the setting's value in usage text.
func (s *setting) typeName() string {
	switch s.v.Interface().(type) {
	case bool:
		return ""
	case int:
		return "int"
	case float64:
		return "number"
	case time.Duration:
		return "duration"
	case []string:
		return "list"
	default:
		return "string"
	}
}
