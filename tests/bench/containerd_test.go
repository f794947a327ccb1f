package bench

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/brisk-serverless/brisk/actions/images"
	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/containerd"
	"github.com/brisk-serverless/brisk/invoker/containerd/ctrdtest"
	"github.com/brisk-serverless/brisk/invoker/containertest"
	"github.com/brisk-serverless/brisk/invoker/process"
)

// The containerd benchmarks measure the container backend itself (no
// controller, no Kafka): cold start from Create to the first /run result,
// alternating with the baseline, bare `runc run` of the same image with the
// same OCI spec running the interpreter to its result (see runcBaseline);
// the baseline alone; a prewarm hit (/init and the first /run on a started
// container); pause and resume; and a warm /run beside the process
// backend. A cold start costs hundreds of milliseconds, so those loops run
// at most BRISK_BENCH_COLD_N times (default 20) whatever b.N is; the
// reported p50/p95 metrics are over those runs.

func coldN(b *testing.B) int {
	n := 20
	if v, err := strconv.Atoi(os.Getenv("BRISK_BENCH_COLD_N")); err == nil && v > 0 {
		n = v
	}
	return min(n, max(b.N, 5))
}

// quantiles reports p50 and p95 of lat under a metric prefix.
func quantiles(b *testing.B, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(x float64) float64 { return float64(lat[int(x*float64(len(lat)-1)+0.5)].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), prefix+"p50-ms")
	b.ReportMetric(q(0.95), prefix+"p95-ms")
}

// ctrdSetup starts a private containerd and a factory on it for one
// benchmark run; both go when b ends.
func ctrdSetup(b *testing.B) *containerd.Factory {
	b.Helper()
	ctrdtest.Require(b)
	imgs := ctrdtest.Images(b)
	d, err := ctrdtest.StartDaemon()
	if err != nil {
		b.Fatalf("containerd: %v", err)
	}
	b.Cleanup(func() { _ = d.Stop() })
	m := api.DefaultManifest()
	refs := map[string]string{}
	for _, k := range append(m.Kinds(), "blackbox") {
		rt, _ := m.Resolve(k)
		refs[k] = rt.ImageRef()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, err := containerd.New(ctx, containerd.Config{
		Address: d.Address, ImagesDir: imgs, Images: refs, StateDir: b.TempDir(), Network: ctrdtest.Network(),
	})
	if err != nil {
		b.Fatalf("containerd: %v", err)
	}
	b.Cleanup(func() { _ = f.Close() })
	return f
}

// BenchmarkContainerd runs every containerd measurement on one private
// daemon: cold start, the runc baseline, prewarm hit, pause/resume and a
// warm /run beside the process backend.
func BenchmarkContainerd(b *testing.B) {
	f := ctrdSetup(b)
	b.Run("ColdStart", func(b *testing.B) { coldStart(b, f) })
	b.Run("RuncRun", func(b *testing.B) { runcRun(b, f) })
	b.Run("PrewarmHit", func(b *testing.B) { prewarmHit(b, f) })
	b.Run("PauseResume", func(b *testing.B) { pauseResume(b, f) })
	b.Run("WarmRun", func(b *testing.B) { warmRun(b, f) })
}

var noopCode = map[string]string{
	"nodejs:20":   `function main(params) { return {ok: true}; }`,
	"python:3.11": "def main(args):\n    return {\"ok\": True}\n",
}

// runtimeStart is what the runc baseline runs: the interpreter printing a
// JSON result, the work a cold action does besides the platform.
var runtimeStart = map[string][]string{
	"nodejs:20":   {"node", "-e", `process.stdout.write(JSON.stringify({ok: true}) + "\n")`},
	"python:3.11": {"python3", "-c", `import json; print(json.dumps({"ok": True}))`},
}

func spec(kind string) invoker.ContainerSpec {
	return invoker.ContainerSpec{Name: "bench", Kind: kind, MemoryMB: 256}
}

func destroy(c invoker.Container) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = c.Destroy(ctx)
}

func initAndRun(b *testing.B, c invoker.Container, kind string) {
	containertest.Init(b, c, containertest.Code{Kind: kind, Code: noopCode[kind]}, nil)
	if st, res := containertest.RunAction(b, c, map[string]any{}); st != 200 || res["ok"] != true {
		b.Fatalf("run: %d %v", st, res)
	}
}

// coldStart: Create → proxy up → /init → first /run result, with the
// container destroyed (untimed) after each. Each cold start alternates
// with a run of the runc baseline (runcBaseline) of the same kind, so that
// both see the same machine load; the baseline's p50 and p95 and the ratio
// of the p50s are reported beside the cold start's.
func coldStart(b *testing.B, f *containerd.Factory) {
	for _, kind := range []string{"nodejs:20", "python:3.11"} {
		b.Run(kind, func(b *testing.B) {
			base := newRuncBaseline(b, f, kind)
			var lat, runc []time.Duration
			for range coldN(b) {
				start := time.Now()
				c, err := f.Create(context.Background(), spec(kind))
				if err != nil {
					b.Fatal(err)
				}
				initAndRun(b, c, kind)
				lat = append(lat, time.Since(start))
				destroy(c)
				d, _ := base.run(b)
				runc = append(runc, d)
			}
			quantiles(b, "", lat)
			quantiles(b, "runc-", runc)
			b.ReportMetric(float64(p50(lat))/float64(p50(runc)), "x-runc")
		})
	}
}

func p50(lat []time.Duration) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[len(s)/2]
}

// runcRun is the baseline alone: `runc run` of the kind's image, with the
// OCI spec of a Brisk container (same namespaces, limits, mounts, user,
// read-only root), running the interpreter to print the result. p50/p95
// are to the result line on stdout (bare runc plus the runtime's own
// start); exit- adds runc's teardown until `runc run` returns.
func runcRun(b *testing.B, f *containerd.Factory) {
	for _, kind := range []string{"nodejs:20", "python:3.11"} {
		b.Run(kind, func(b *testing.B) {
			base := newRuncBaseline(b, f, kind)
			var lat, exit []time.Duration
			for range coldN(b) {
				d, e := base.run(b)
				lat = append(lat, d)
				exit = append(exit, e)
			}
			quantiles(b, "", lat)
			quantiles(b, "exit-", exit)
		})
	}
}

// runcBaseline runs the interpreter of one kind with bare runc: a bundle
// with the image's root file system extracted and the spec of a container
// the factory created, its process replaced by the interpreter printing
// the result, its network namespace one prepared ahead (as the factory's
// are) and its own cgroup each run.
type runcBaseline struct {
	bundle string
	spec   map[string]any
	netns  string
	seq    int
}

func newRuncBaseline(b *testing.B, f *containerd.Factory, kind string) *runcBaseline {
	b.Helper()
	dir := ctrdtest.Images(b)
	idx, err := images.ReadIndex(dir)
	if err != nil {
		b.Fatal(err)
	}
	var archive string
	for _, e := range idx.Images {
		if e.Kind == kind {
			archive = filepath.Join(dir, e.File)
		}
	}
	r := &runcBaseline{bundle: b.TempDir(), netns: fmt.Sprintf("brisk-bench-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)}
	if err := extractRootfs(archive, filepath.Join(r.bundle, "rootfs")); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "add", r.netns).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v: %s", err, out)
	}
	b.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", r.netns).Run()
		// runc removes each run's cgroup, not their parent.
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/brisk-bench")
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	// The spec of a real container of this kind.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := f.Create(ctx, spec(kind))
	if err != nil {
		b.Fatal(err)
	}
	defer destroy(c)
	cont, err := f.Client().LoadContainer(namespaces.WithNamespace(ctx, f.Namespace()), c.ID())
	if err != nil {
		b.Fatal(err)
	}
	oci, err := cont.Spec(namespaces.WithNamespace(ctx, f.Namespace()))
	if err != nil {
		b.Fatal(err)
	}
	oci.Process.Args = runtimeArgs(b, kind)
	oci.Root.Path = "rootfs"
	for i, ns := range oci.Linux.Namespaces {
		if ns.Type == "network" {
			oci.Linux.Namespaces[i].Path = "/run/netns/" + r.netns
		}
	}
	data, err := json.Marshal(oci)
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(data, &r.spec); err != nil {
		b.Fatal(err)
	}
	return r
}

// run runs the interpreter once and returns the time to its result line
// and to the exit of `runc run` (which then deletes the container).
func (r *runcBaseline) run(b *testing.B) (toResult, toExit time.Duration) {
	b.Helper()
	r.seq++
	id := fmt.Sprintf("brisk-bench-%d-%d", os.Getpid(), r.seq)
	r.spec["linux"].(map[string]any)["cgroupsPath"] = "/brisk-bench/" + id
	data, err := json.Marshal(r.spec)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.bundle, "config.json"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("runc", "run", "--bundle", r.bundle, id)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	toResult = time.Since(start)
	_, _ = io.Copy(io.Discard, out)
	err = cmd.Wait()
	toExit = time.Since(start)
	if err != nil || !strings.Contains(line, `"ok"`) {
		b.Fatalf("runc run: %v: %q %s", err, line, stderr.String())
	}
	return toResult, toExit
}

// runtimeArgs resolves the interpreter to the path the image has it at.
func runtimeArgs(b *testing.B, kind string) []string {
	args := append([]string(nil), runtimeStart[kind]...)
	env := map[string]string{"nodejs:20": "BRISK_NODE", "python:3.11": "BRISK_PYTHON3"}[kind]
	dir := ctrdtest.Images(b)
	idx, _ := images.ReadIndex(dir)
	for _, e := range idx.Images {
		if e.Kind != kind {
			continue
		}
		if p := imageEnv(filepath.Join(dir, e.File), env); p != "" {
			args[0] = p
		}
	}
	return args
}

// prewarmHit: the container is started, its proxy listening and its
// runtime prestarted (a stem cell that idled stemSettle); timed is what an
// activation then waits for: /init and the first /run.
func prewarmHit(b *testing.B, f *containerd.Factory) {
	for _, kind := range []string{"nodejs:20", "python:3.11"} {
		b.Run(kind, func(b *testing.B) {
			var lat []time.Duration
			for range coldN(b) {
				c, err := f.Create(context.Background(), spec(kind))
				if err != nil {
					b.Fatal(err)
				}
				waitListening(b, c.Addr())
				// A stem cell waits in the pool; by the time an activation
				// takes it, its prestarted runtime is up.
				time.Sleep(stemSettle)
				start := time.Now()
				initAndRun(b, c, kind)
				lat = append(lat, time.Since(start))
				destroy(c)
			}
			quantiles(b, "", lat)
		})
	}
}

// stemSettle is how long a benchmarked stem cell idles before it is used.
const stemSettle = time.Second

func waitListening(b *testing.B, addr string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s not listening: %v", addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pauseResume freezes and thaws a warm container.
func pauseResume(b *testing.B, f *containerd.Factory) {
	c, err := f.Create(context.Background(), spec("nodejs:20"))
	if err != nil {
		b.Fatal(err)
	}
	defer destroy(c)
	initAndRun(b, c, "nodejs:20")
	p := c.(invoker.Pauser)
	var pause, resume, resumeRun []time.Duration
	for range coldN(b) {
		t := time.Now()
		if err := p.Pause(context.Background()); err != nil {
			b.Fatal(err)
		}
		pause = append(pause, time.Since(t))
		t = time.Now()
		if err := p.Resume(context.Background()); err != nil {
			b.Fatal(err)
		}
		resume = append(resume, time.Since(t))
		if st, _ := containertest.RunAction(b, c, map[string]any{}); st != 200 {
			b.Fatalf("run after resume: %d", st)
		}
		resumeRun = append(resumeRun, time.Since(t))
	}
	quantiles(b, "pause-", pause)
	quantiles(b, "resume-", resume)
	quantiles(b, "resume+run-", resumeRun)
}

// warmRun is a /run on a warm container of each backend.
func warmRun(b *testing.B, f *containerd.Factory) {
	bin, err := ctrdtest.BriskBinary()
	if err != nil {
		b.Skip(err)
	}
	b.Run("process", func(b *testing.B) {
		pf, err := process.New(process.Config{ProxyCommand: []string{bin, "proxy"}, WorkDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		defer pf.Close()
		warmLoop(b, pf)
	})
	b.Run("containerd", func(b *testing.B) {
		warmLoop(b, f)
	})
}

func warmLoop(b *testing.B, f invoker.ContainerFactory) {
	c, err := f.Create(context.Background(), spec("nodejs:20"))
	if err != nil {
		b.Fatal(err)
	}
	defer destroy(c)
	go func() { // the invoker always reads the logs
		for range c.Logs() {
		}
	}()
	initAndRun(b, c, "nodejs:20")
	run := []byte(`{"value":{},"namespace":"guest","action_name":"/guest/noop","action_version":"0.0.1","activation_id":"0123456789abcdef0123456789abcdef","transaction_id":"t","deadline":"0"}`)
	sequential(b, func() { post(b, "http://"+c.Addr()+"/run", "", run) })
}

// extractRootfs unpacks the single layer of an image archive into dir.
func extractRootfs(archive, dir string) error {
	blobs, index, err := readSmallBlobs(archive)
	if err != nil {
		return err
	}
	var idx struct{ Manifests []struct{ Digest string } }
	if err := json.Unmarshal(index, &idx); err != nil || len(idx.Manifests) == 0 {
		return fmt.Errorf("%s: bad index.json: %v", archive, err)
	}
	var man struct{ Layers []struct{ Digest string } }
	if err := json.Unmarshal(blobs[idx.Manifests[0].Digest], &man); err != nil || len(man.Layers) != 1 {
		return fmt.Errorf("%s: bad manifest: %v", archive, err)
	}
	layer := "blobs/sha256/" + strings.TrimPrefix(man.Layers[0].Digest, "sha256:")
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			return fmt.Errorf("%s: layer %s not found: %w", archive, layer, err)
		}
		if h.Name == layer {
			return untar(tar.NewReader(tr), dir)
		}
	}
}

func readSmallBlobs(archive string) (map[string][]byte, []byte, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	blobs := map[string][]byte{}
	var index []byte
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return blobs, index, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if h.Size > 1<<20 {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, err
		}
		if h.Name == "index.json" {
			index = data
		} else if strings.HasPrefix(h.Name, "blobs/sha256/") {
			blobs["sha256:"+strings.TrimPrefix(h.Name, "blobs/sha256/")] = data
		}
	}
}

func untar(tr *tar.Reader, dir string) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(target, os.FileMode(h.Mode&0o777)|modeSticky(h.Mode)); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			w, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode&0o777))
			if err != nil {
				return err
			}
			_, err = io.Copy(w, tr)
			w.Close()
			if err != nil {
				return err
			}
		}
	}
}

func modeSticky(mode int64) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// imageEnv returns the value of name in an image archive's config.
func imageEnv(archive, name string) string {
	blobs, _, err := readSmallBlobs(archive)
	if err != nil {
		return ""
	}
	for _, data := range blobs {
		var cfg struct{ Config struct{ Env []string } }
		if json.Unmarshal(data, &cfg) != nil {
			continue
		}
		for _, e := range cfg.Config.Env {
			if v, ok := strings.CutPrefix(e, name+"="); ok {
				return v
			}
		}
	}
	return ""
}
