package containerd_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/invoker/containerd"
	"github.com/brisk-serverless/brisk/invoker/containerd/ctrdtest"
	"github.com/brisk-serverless/brisk/invoker/containertest"
)

func pyCode(src string) containertest.Code {
	return containertest.Code{Kind: "python:3.11", Code: src}
}

// runPy starts a python container, runs src once with args and returns the
// result (status must be 200).
func runPy(t *testing.T, f *containerd.Factory, memoryMB int, src string, args map[string]any) map[string]any {
	t.Helper()
	c := create(t, f, "python:3.11", memoryMB)
	containertest.Init(t, c, pyCode(src), nil)
	status, res := containertest.RunAction(t, c, args)
	if status != 200 {
		t.Fatalf("status %d, result %v", status, res)
	}
	return res
}

func TestMemoryLimitKillsTheAction(t *testing.T) {
	t.Parallel()
	f := newFactory(t)
	t.Cleanup(func() { f.Close() })
	hog := containertest.Code{Kind: "nodejs:20", Code: `function main(args) {
  const keep = [];
  for (let i = 0; i < args.mb; i++) { const b = Buffer.alloc(1 << 20, 1); keep.push(b); }
  return {allocated: keep.length};
}`}

	// Within the limit: the action runs and nothing was killed.
	ok := create(t, f, "nodejs:20", 256)
	containertest.Init(t, ok, hog, nil)
	if status, res := containertest.RunAction(t, ok, map[string]any{"mb": 64}); status != 200 || res["allocated"] != float64(64) {
		t.Fatalf("64 MB in a 256 MB container: status %d, result %v", status, res)
	}
	if ok.OOMKilled(context.Background()) {
		t.Fatal("OOMKilled is true for a container within its limit")
	}

	// Over the limit: the kernel kills the action process.
	over := create(t, f, "nodejs:20", 128)
	containertest.Init(t, over, hog, nil)
	status, res := containertest.RunAction(t, over, map[string]any{"mb": 400})
	if status == 200 {
		t.Fatalf("400 MB in a 128 MB container succeeded: %v", res)
	}
	if !over.OOMKilled(context.Background()) {
		t.Fatalf("OOMKilled is false after the action was killed (status %d, result %v)", status, res)
	}
}

func TestPidsLimit(t *testing.T) {
	t.Parallel()
	f := newFactory(t, func(c *containerd.Config) { c.PidsLimit = 64 })
	t.Cleanup(func() { f.Close() })
	res := runPy(t, f, 256, `import os, time
def main(args):
    pids, err = [], ""
    try:
        for _ in range(args["n"]):
            pid = os.fork()
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            pids.append(pid)
    except OSError as e:
        err = str(e)
    for p in pids:
        os.kill(p, 9)
        os.waitpid(p, 0)
    return {"forked": len(pids), "error": err}
`, map[string]any{"n": 200})
	forked, _ := res["forked"].(float64)
	if forked >= 64 || !strings.Contains(fmt.Sprint(res["error"]), "Resource temporarily unavailable") {
		t.Fatalf("forking 200 processes under a limit of 64: %v", res)
	}
}

func TestReadOnlyRootWritableTmpUnprivileged(t *testing.T) {
	t.Parallel()
	f := newFactory(t)
	t.Cleanup(func() { f.Close() })
	res := runPy(t, f, 256, `import os
def main(args):
    out = {"uid": os.getuid(), "gid": os.getgid()}
    for p in ("/etc/brisk-test", "/usr/brisk-test", "/brisk-test"):
        try:
            open(p, "w").write("x")
            out[p] = "written"
        except OSError as e:
            out[p] = e.strerror
    with open("/tmp/ok", "w") as f:
        f.write("ok")
    out["tmp"] = open("/tmp/ok").read()
    status = open("/proc/self/status").read().splitlines()
    for line in status:
        k, _, v = line.partition(":")
        if k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs"):
            out[k] = v.strip()
    return out
`, map[string]any{})
	if res["uid"] == float64(0) || res["gid"] == float64(0) {
		t.Errorf("the action runs as root: %v", res)
	}
	for _, p := range []string{"/etc/brisk-test", "/usr/brisk-test", "/brisk-test"} {
		if res[p] != "Read-only file system" {
			t.Errorf("writing %s: %v, want Read-only file system", p, res[p])
		}
	}
	if res["tmp"] != "ok" {
		t.Errorf("/tmp is not writable: %v", res)
	}
	for _, k := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if res[k] != "0000000000000000" {
			t.Errorf("%s = %v, want no capabilities", k, res[k])
		}
	}
	if res["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs = %v, want 1", res["NoNewPrivs"])
	}
}

const connectSrc = `import socket
def main(args):
    out = {}
    for target in args["targets"]:
        host, port = target.rsplit(":", 1)
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((host, int(port)))
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            out[target] = "connected: " + s.recv(200).decode("latin-1").split("\r\n")[0]
        except OSError as e:
            out[target] = "failed: " + str(e)
        finally:
            s.close()
    return out
`

// TestNetworkIsolation: an action reaches a server outside the host (here a
// separate network namespace routed through the host), but neither the
// host's own ports nor another action's container.
func TestNetworkIsolation(t *testing.T) {
	t.Parallel()
	f := newFactory(t)
	t.Cleanup(func() { f.Close() })

	// A service on the host, listening on every address.
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "HTTP/1.0 200 host-service\r\n\r\n")
			c.Close()
		}
	}()
	hostPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	outside := ctrdtest.OutsideServer(t)

	victim := create(t, f, "python:3.11", 256)
	containertest.Init(t, victim, pyCode(connectSrc), nil)
	c := create(t, f, "python:3.11", 256)
	containertest.Init(t, c, pyCode(connectSrc), nil)

	gateway := gatewayOf(t, c.Addr())
	targets := []string{outside, gateway + ":" + hostPort, victim.Addr()}
	if ip := hostIP(t); ip != "" {
		targets = append(targets, ip+":"+hostPort)
	}
	status, res := containertest.RunAction(t, c, map[string]any{"targets": targets})
	if status != 200 {
		t.Fatalf("status %d, result %v", status, res)
	}
	t.Logf("connections from an action: %v", res)
	if got := fmt.Sprint(res[outside]); !strings.HasPrefix(got, "connected") {
		t.Errorf("outside server %s: %s", outside, got)
	}
	for _, target := range targets[1:] {
		if got := fmt.Sprint(res[target]); !strings.HasPrefix(got, "failed") {
			t.Errorf("%s is reachable from an action: %s", target, got)
		}
	}
}

func gatewayOf(t *testing.T, addr string) string {
	t.Helper()
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host).To4()
	if ip == nil {
		t.Fatalf("container address %q is not IPv4", addr)
	}
	return fmt.Sprintf("%d.%d.%d.1", ip[0], ip[1], ip[2])
}

// hostIP is the host's address on its default route ("" if none).
func hostIP(t *testing.T) string {
	out, err := exec.Command("ip", "-4", "-o", "route", "get", "1.1.1.1").Output()
	if err != nil {
		return ""
	}
	f := strings.Fields(string(out))
	for i, w := range f {
		if w == "src" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}
