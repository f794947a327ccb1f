package messagingtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvBrokers names an Apache Kafka to use instead of starting one
// (host:port[,host:port...]); [StartKafka] reads it.
const EnvBrokers = "BRISK_KAFKA_BROKERS"

// StartKafka returns the bootstrap addresses of a real Apache Kafka for t:
// those in $BRISK_KAFKA_BROKERS when set, else a single-node KRaft broker
// started by scripts/kafka.sh on free loopback ports, with its data in a
// temporary directory, and stopped when t ends (also if the test binary dies:
// the script watches its parent process). It fails t, saying how to install
// them, when the broker's jars (`bash scripts/kafka.sh install`, which
// `make test` runs) or Java are missing.
func StartKafka(t testing.TB) []string {
	t.Helper()
	if env := os.Getenv(EnvBrokers); env != "" {
		return strings.Split(env, ",")
	}
	script, err := findScript()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("real Kafka: java is not on the PATH (Kafka 4 needs Java 17+; make test-deps installs it: apt-get install openjdk-17-jre-headless): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "bash", script, "installed").CombinedOutput(); err != nil {
		t.Fatalf("real Kafka is not installed: run `bash scripts/kafka.sh install` (make test does): %s",
			strings.TrimSpace(err.Error()+" "+string(out)))
	}

	start := time.Now()
	addr, err := startBroker(script)
	if err != nil {
		// The free ports the script picked may have been taken before the
		// broker bound them: try once more.
		t.Logf("%v; trying again", err)
		addr, err = startBroker(script)
	}
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(addr, ":")
	t.Logf("Apache Kafka on %s (started in %v)", addr, time.Since(start).Round(100*time.Millisecond))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "bash", script, "stop", "--port", port).CombinedOutput(); err != nil {
			t.Errorf("scripts/kafka.sh stop: %v\n%s", err, out)
		}
	})
	return []string{addr}
}

// startBroker runs `scripts/kafka.sh start` and returns the address it printed.
func startBroker(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "start", "--parent", strconv.Itoa(os.Getpid()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The broker outlives the script; WaitDelay stops Wait from waiting for
	// pipes it might have inherited.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		return "", fmt.Errorf("scripts/kafka.sh start: %w\n%s%s", err, stdout.String(), stderr.String())
	}
	fields := strings.Fields(stdout.String())
	if len(fields) == 0 {
		return "", fmt.Errorf("scripts/kafka.sh start printed no address\n%s", stderr.String())
	}
	addr := fields[len(fields)-1]
	if _, _, ok := strings.Cut(addr, ":"); !ok {
		return "", fmt.Errorf("scripts/kafka.sh start printed %q, want host:port", addr)
	}
	return addr, nil
}

// findScript finds scripts/kafka.sh in the working directory or above it
// (tests run in their package's directory).
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find scripts/kafka.sh: %w", err)
	}
	for {
		p := filepath.Join(dir, "scripts", "kafka.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find scripts/kafka.sh: not in the working directory or above it")
		}
		dir = parent
	}
}
