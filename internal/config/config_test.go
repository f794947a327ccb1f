package config_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/internal/config"
)

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", rel)
}

func load(t *testing.T, dst any, args []string, env ...string) error {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	_, err := config.Load(dst, fs, args, env)
	return err
}

func invokerDefaults() config.Invoker {
	return config.DefaultInvoker("/run/containerd/containerd.sock", "brisk", 10*time.Second)
}

func TestSamplesDocumentTheDefaults(t *testing.T) {
	// Each sample loads strictly (no unknown key), names every setting,
	// and shows exactly the defaults.
	for _, c := range []struct {
		file     string
		defaults any
		loaded   any
	}{
		{"config/controller.yaml", ptr(config.DefaultController()), &config.Controller{}},
		{"config/invoker.yaml", ptr(invokerDefaults()), &config.Invoker{}},
		{"config/standalone.yaml", ptr(config.DefaultStandalone("/run/containerd/containerd.sock", "brisk", 10*time.Second)), &config.Standalone{}},
	} {
		path := repoFile(t, c.file)
		if err := load(t, c.loaded, []string{"--config", path}); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if !reflect.DeepEqual(c.loaded, c.defaults) {
			t.Errorf("%s loads as\n%+v\nwant the defaults\n%+v", c.file, c.loaded, c.defaults)
		}
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := config.Keys(c.defaults)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			leaf := k[strings.LastIndexByte(k, '.')+1:]
			if !strings.Contains(string(text), leaf+":") {
				t.Errorf("%s does not show setting %s", c.file, k)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestPrecedenceFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte(`
id: "1"
listen: 0.0.0.0:10001
kafka:
  brokers: [k1:9092, k2:9092]
couchdb:
  url: http://admin:secret@db:5984
loadbalancer:
  timeout-factor: 2
  timeout-addon: 30s
raft:
  voters: [1=10.0.0.1:3235, 2=10.0.0.2:3235]
throttles:
  fires-per-minute: 5
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.DefaultController()
	err := load(t, &c, []string{"--listen", "127.0.0.1:9", "--timeout-factor=3", "--alarms=false"},
		"BRISK_CONFIG="+file, "BRISK_ID=2", "BRISK_LISTEN=127.0.0.1:8", "BRISK_KAFKA=k3:9092, k4:9092", "OTHER_ID=9",
		"BRISK_TIMEOUT_ADDON=2m")
	if err != nil {
		t.Fatal(err)
	}
	want := config.DefaultController()
	want.ID = "2"                                       // env over file
	want.Listen = "127.0.0.1:9"                         // flag over env over file
	want.Kafka.Brokers = []string{"k3:9092", "k4:9092"} // env list
	want.CouchDB.URL = "http://admin:secret@db:5984"    // file
	want.LoadBalancer.TimeoutFactor = 3                 // flag over file
	want.Raft.Voters = []string{"1=10.0.0.1:3235", "2=10.0.0.2:3235"}
	want.LoadBalancer.TimeoutAddon = 2 * time.Minute // env duration over file
	want.Throttles.FiresPerMinute = 5                // file, rest of the section default
	want.Alarms = false
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("loaded\n%+v\nwant\n%+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}

	// --config on the command line wins over BRISK_CONFIG.
	c = config.DefaultController()
	if err := load(t, &c, []string{"-config=" + file}, "BRISK_CONFIG=/nonexistent"); err != nil || c.ID != "1" {
		t.Fatalf("--config over BRISK_CONFIG: id %q, err %v", c.ID, err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "u.yaml")
	_ = os.WriteFile(unknown, []byte("kafka:\n  broker: [x:1]\n"), 0o600)
	badType := filepath.Join(dir, "b.yaml")
	_ = os.WriteFile(badType, []byte("loadbalancer:\n  timeout-factor: many\n"), 0o600)
	for name, c := range map[string]struct {
		args []string
		env  []string
		want string
	}{
		"missing file":  {[]string{"--config", filepath.Join(dir, "none.yaml")}, nil, "no such file"},
		"unknown key":   {[]string{"--config", unknown}, nil, "field broker not found"},
		"bad type":      {[]string{"--config", badType}, nil, "cannot unmarshal"},
		"bad env":       {nil, []string{"BRISK_TIMEOUT_FACTOR=x"}, `BRISK_TIMEOUT_FACTOR: "x" is not an integer`},
		"bad flag":      {[]string{"--timeout-addon", "soon"}, nil, "not a duration"},
		"unknown flag":  {[]string{"--nope"}, nil, "flag provided but not defined"},
		"stray args":    {[]string{"extra"}, nil, "unexpected arguments"},
		"bad bool flag": {[]string{"--alarms=perhaps"}, nil, "not a boolean"},
	} {
		c2 := config.DefaultController()
		err := load(t, &c2, c.args, c.env...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one containing %q", name, err, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	good := config.DefaultController()
	good.CouchDB.URL = "http://127.0.0.1:5984"
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(*config.Controller){
		"no couchdb":        func(c *config.Controller) { c.CouchDB.URL = "" },
		"no brokers":        func(c *config.Controller) { c.Kafka.Brokers = nil },
		"bad broker":        func(c *config.Controller) { c.Kafka.Brokers = []string{"nohost"} },
		"id with slash":     func(c *config.Controller) { c.ID = "a/b" },
		"timeout factor 0":  func(c *config.Controller) { c.LoadBalancer.TimeoutFactor = 0 },
		"bad raft bind":     func(c *config.Controller) { c.Raft.Bind = "3235" },
		"voter without id":  func(c *config.Controller) { c.Raft.Voters = []string{"127.0.0.1:3235"} },
		"self not a voter":  func(c *config.Controller) { c.Raft.Voters = []string{"9=127.0.0.1:3235"} },
		"bad api url":       func(c *config.Controller) { c.Raft.APIURL = "localhost:3233" },
		"readiness 0":       func(c *config.Controller) { c.LoadBalancer.ReadinessFraction = 0 },
		"bad listen":        func(c *config.Controller) { c.Listen = "3233" },
		"negative addon":    func(c *config.Controller) { c.LoadBalancer.TimeoutAddon = -time.Second },
		"managed fraction2": func(c *config.Controller) { c.LoadBalancer.ManagedFraction = 2 },
		"negative throttle": func(c *config.Controller) { c.Throttles.FiresPerMinute = -1 },
		"concurrency 0":     func(c *config.Controller) { c.Throttles.MaxActionConcurrency = 0 },
		"bad log level":     func(c *config.Controller) { c.LogLevel = "verbose" },
		"tiny uri length":   func(c *config.Controller) { c.API.MaxURILength = 10 },
		"timeout over 15m":  func(c *config.Controller) { c.Limits.ActionTimeoutMax = 16 * time.Minute },
		"big payload":       func(c *config.Controller) { c.Limits.PayloadMax = 2 << 20 },
		"sequence 0":        func(c *config.Controller) { c.Limits.SequenceLengthMax = 0 },
		"memory 64":         func(c *config.Controller) { c.Limits.ActionMemoryMax = 64 },
	} {
		c := good
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	inv := invokerDefaults()
	inv.CouchDB.URL = "http://127.0.0.1:5984"
	if err := inv.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(*config.Invoker){
		"negative id":  func(c *config.Invoker) { c.ID = -1 },
		"tiny memory":  func(c *config.Invoker) { c.UserMemory = 64 },
		"bad api host": func(c *config.Invoker) { c.APIHost = "localhost:3233" },
		"bad backend":  func(c *config.Invoker) { c.Containers.Backend = "docker" },
		"bad level":    func(c *config.Invoker) { c.LogLevel = "loud" },
		"no couchdb":   func(c *config.Invoker) { c.CouchDB.URL = "" },
	} {
		c := inv
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("invoker %s: accepted", name)
		}
	}
}

func TestValidateStandalone(t *testing.T) {
	good := config.DefaultStandalone("/run/containerd/containerd.sock", "brisk", 10*time.Second)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(*config.Standalone){
		"bad listen":      func(c *config.Standalone) { c.Listen = "3233" },
		"bad pprof":       func(c *config.Standalone) { c.PProf = "6060" },
		"tiny memory":     func(c *config.Standalone) { c.UserMemory = 100 },
		"bad couchdb":     func(c *config.Standalone) { c.CouchDB.URL = "couch:5984" },
		"bad backend":     func(c *config.Standalone) { c.Containers.Backend = "docker" },
		"bad log level":   func(c *config.Standalone) { c.LogLevel = "chatty" },
		"negative retain": func(c *config.Standalone) { c.ActivationRetention = -time.Hour },
		"negative invoke": func(c *config.Standalone) { c.Throttles.InvocationsPerMinute = -5 },
		"no uri length":   func(c *config.Standalone) { c.API.MaxURILength = 0 },
	} {
		c := good
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("standalone %s: accepted", name)
		}
	}
	// A bad value in the environment is refused when loading, naming the variable.
	c := good
	err := load(t, &c, nil, "BRISK_USER_MEMORY=lots")
	if err == nil || !strings.Contains(err.Error(), "BRISK_USER_MEMORY") {
		t.Errorf("BRISK_USER_MEMORY=lots: %v", err)
	}
}

func TestPrintDefaultsNamesTypes(t *testing.T) {
	// --help names each value by its type, never "value", and a usage's
	// words are never taken as the value's name.
	cfg := config.DefaultStandalone("/run/containerd/containerd.sock", "brisk", 10*time.Second)
	fs := flag.NewFlagSet("standalone", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	if _, err := config.Load(&cfg, fs, nil, nil); err != nil {
		t.Fatal(err)
	}
	config.PrintDefaults(fs)
	want := map[string]string{
		"-listen": "string", "-user-memory": "int", "-activation-retention": "duration", "-prewarm": "",
		"-images-dir": "string", "-config": "file", "-deny-outbound": "",
	}
	lines := strings.Split(out.String(), "\n")
	seen := 0
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasPrefix(f[0], "-") {
			continue
		}
		if len(f) > 2 || (len(f) == 2 && f[1] == "value") {
			t.Errorf("flag line %q: want -name [type]", l)
		}
		if typ, ok := want[f[0]]; ok {
			seen++
			if got := strings.Join(f[1:], ""); got != typ {
				t.Errorf("%s shows %q, want %q", f[0], got, typ)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("saw %d of %d flags in\n%s", seen, len(want), out.String())
	}
}
