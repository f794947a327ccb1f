package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/image-spec/identity"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/brisk-serverless/brisk/actions/images"
	"github.com/brisk-serverless/brisk/invoker"
)

// Defaults for the zero values of Config.
const (
	DefaultAddress      = "/run/containerd/containerd.sock"
	DefaultNamespace    = "brisk"
	DefaultOwner        = "invoker0"
	DefaultSnapshotter  = "overlayfs"
	DefaultPidsLimit    = 256
	DefaultTmpfsMB      = 64
	DefaultLogBuffer    = 4096
	DefaultLogDropAfter = 5 * time.Second
	DefaultLogDrain     = 2 * time.Second
)

// labelOwner marks the containers of one factory (Config.Owner); labelNetns
// names the network namespace a container joined.
const (
	labelOwner = "org.brisk.owner"
	labelNetns = "org.brisk.netns"
)

// ErrClosed is returned by Create after Close.
var ErrClosed = errors.New("containerd factory closed")

// ErrNoImage is returned (wrapped) when the image of a kind was not imported.
var ErrNoImage = errors.New("runtime image not available")

// Config configures a Factory.
type Config struct {
	// Address is containerd's socket (default DefaultAddress).
	Address string
	// Namespace is the containerd namespace of the containers and images
	// (default "brisk").
	Namespace string
	// Owner labels this factory's containers; Cleanup removes the ones with
	// the same Owner (default "invoker0").
	Owner string
	// ImagesDir holds images.json and the archives it lists (actions/images);
	// they are imported when the factory starts. Empty: use what containerd
	// already has.
	ImagesDir string
	// Images maps a kind to its image reference, for specs without Image.
	Images map[string]string
	// StateDir holds the factory's files: log FIFOs, network addresses
	// (default <os.TempDir()>/brisk-containerd-<Owner>).
	StateDir string
	// Snapshotter is containerd's snapshotter (default "overlayfs").
	Snapshotter string
	// Network configures the CNI bridge.
	Network NetworkConfig
	// PreparedViews is how many read-only views of each runtime image's
	// root file system are kept ready, off the cold-start path (default 2;
	// negative: none, create each container's view when it is created).
	PreparedViews int
	// PidsLimit bounds the processes and threads of one container
	// (default 256).
	PidsLimit int64
	// TmpfsMB is the size of each container's /tmp (default 64); it counts
	// against the container's memory limit.
	TmpfsMB int
	// LogBuffer, LogDropAfter and LogDrain bound log delivery as in
	// invoker/process (defaults 4096 lines, 5 s, 2 s).
	LogBuffer    int
	LogDropAfter time.Duration
	LogDrain     time.Duration
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Factory creates containerd containers. It is safe for concurrent use.
type Factory struct {
	cfg    Config
	client *ctrd.Client
	net    *network
	netns  *netnsPool
	log    *slog.Logger
	fifos  string

	onTrace func(*trace) // tests: the steps of each Create

	lease      string // the factory's lease (prepare.go)
	snaps      *snapshotPool
	resolvConf string // the host's resolv.conf, bound into every container

	mu      sync.Mutex
	closed  bool
	images  map[string]ctrd.Image // by reference
	parents map[string]string     // image reference → chain id of its layers
	specs   map[string]*imageSpec // by image reference
	live    map[string]*Container
}

var _ invoker.ContainerFactory = (*Factory)(nil)

// New connects to containerd, imports the images of cfg.ImagesDir and sets
// up the network. It fails when containerd is unreachable (within 10 s).
func New(ctx context.Context, cfg Config) (*Factory, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Owner == "" {
		cfg.Owner = DefaultOwner
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(os.TempDir(), "brisk-containerd-"+cfg.Owner)
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = DefaultSnapshotter
	}
	if cfg.PidsLimit <= 0 {
		cfg.PidsLimit = DefaultPidsLimit
	}
	if cfg.PreparedViews == 0 {
		cfg.PreparedViews = 2
	}
	if cfg.TmpfsMB <= 0 {
		cfg.TmpfsMB = DefaultTmpfsMB
	}
	if cfg.LogBuffer <= 0 {
		cfg.LogBuffer = DefaultLogBuffer
	}
	if cfg.LogDropAfter <= 0 {
		cfg.LogDropAfter = DefaultLogDropAfter
	}
	if cfg.LogDrain <= 0 {
		cfg.LogDrain = DefaultLogDrain
	}
	cfg.Images = maps.Clone(cfg.Images)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("containerd factory: state dir: %w", err)
	}
	cfg.StateDir = abs
	f := &Factory{cfg: cfg, log: log, fifos: filepath.Join(abs, "fifo"),
		images: map[string]ctrd.Image{}, parents: map[string]string{}, specs: map[string]*imageSpec{},
		live: map[string]*Container{}}
	if resolv, err := filepath.EvalSymlinks("/etc/resolv.conf"); err == nil {
		f.resolvConf = resolv
	}
	for _, d := range []string{abs, f.fifos} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("containerd factory: %w", err)
		}
	}
	if f.net, err = newNetwork(cfg.Network); err != nil {
		return nil, fmt.Errorf("containerd factory: %w", err)
	}
	if _, err := os.Stat(cfg.Address); err != nil {
		return nil, fmt.Errorf("containerd factory: socket %s: %w", cfg.Address, err)
	}
	f.client, err = ctrd.New(cfg.Address, ctrd.WithDefaultNamespace(cfg.Namespace), ctrd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("containerd factory: connect to %s: %w", cfg.Address, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.client.Close()
		}
	}()
	vctx, cancel := context.WithTimeout(f.ctx(ctx), 10*time.Second)
	v, err := f.client.Version(vctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("containerd factory: containerd at %s does not answer: %w", cfg.Address, err)
	}
	log.Info("containerd connected", "address", cfg.Address, "version", v.Version, "namespace", cfg.Namespace)
	if err := f.newLease(ctx); err != nil {
		return nil, fmt.Errorf("containerd factory: %w", err)
	}
	defer func() {
		if !ok {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_ = f.deleteLease(dctx)
			cancel()
		}
	}()
	if err := f.importImages(ctx); err != nil {
		return nil, err
	}
	if err := f.net.setup(ctx); err != nil {
		return nil, fmt.Errorf("containerd factory: %w", err)
	}
	prepared := cfg.Network.Prepared
	if prepared == 0 {
		prepared = 2
	}
	f.netns = newNetnsPool(f.net, cfg.Owner, prepared, log.Warn)
	f.snaps = newSnapshotPool(f, maps.Clone(f.parents), cfg.PreparedViews)
	ok = true
	return f, nil
}

// ctx adds the factory's containerd namespace to ctx.
func (f *Factory) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, f.cfg.Namespace)
}

// Client is the factory's containerd client (for tests and benchmarks).
func (f *Factory) Client() *ctrd.Client { return f.client }

// Namespace is the containerd namespace the factory uses.
func (f *Factory) Namespace() string { return f.cfg.Namespace }

// importImages imports every image the index lists that containerd does
// not already have at the same digest, unpacks it and remembers it.
func (f *Factory) importImages(ctx context.Context) error {
	ctx = f.ctx(ctx)
	var entries []images.Entry
	if f.cfg.ImagesDir != "" {
		idx, err := images.ReadIndex(f.cfg.ImagesDir)
		if err != nil {
			return fmt.Errorf("containerd factory: %w (build the images with `make images`)", err)
		}
		entries = idx.Images
	}
	refs := map[string]bool{}
	for _, e := range entries {
		refs[e.Ref] = true
		if _, ok := f.cfg.Images[e.Kind]; !ok {
			if f.cfg.Images == nil {
				f.cfg.Images = map[string]string{}
			}
			f.cfg.Images[e.Kind] = e.Ref
		}
	}
	for _, ref := range f.cfg.Images {
		refs[ref] = true
	}
	for _, e := range entries {
		start := time.Now()
		img, err := f.client.GetImage(ctx, e.Ref)
		imported := false
		if err != nil || img.Target().Digest.String() != e.Digest {
			if img, err = f.importArchive(ctx, filepath.Join(f.cfg.ImagesDir, e.File), e.Ref); err != nil {
				return err
			}
			imported = true
		}
		if err := f.addImage(ctx, e.Ref, img); err != nil {
			return err
		}
		f.log.Info("runtime image ready", "ref", e.Ref, "kind", e.Kind, "imported", imported, "took", time.Since(start).Round(time.Millisecond))
	}
	// Images named by the manifest but not in the index may already be in
	// containerd (imported by hand).
	for ref := range refs {
		if _, ok := f.images[ref]; ok {
			continue
		}
		img, err := f.client.GetImage(ctx, ref)
		if err != nil {
			f.log.Warn("runtime image missing; actions of its kind cannot run (build it with `make images`)", "ref", ref)
			continue
		}
		if err := f.addImage(ctx, ref, img); err != nil {
			return err
		}
	}
	return nil
}

// addImage unpacks img if needed and remembers it, with the chain id its
// root file system views start from.
func (f *Factory) addImage(ctx context.Context, ref string, img ctrd.Image) error {
	if err := f.unpack(ctx, img); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	diffIDs, err := img.RootFS(rctx)
	if err != nil {
		return fmt.Errorf("containerd factory: layers of image %s: %w", ref, err)
	}
	f.images[ref] = img
	f.parents[ref] = identity.ChainID(diffIDs).String()
	return nil
}

func (f *Factory) importArchive(ctx context.Context, path, ref string) (ctrd.Image, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("containerd factory: import image %s: %w", ref, err)
	}
	defer r.Close()
	ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	imgs, err := f.client.Import(ictx, r)
	if err != nil {
		return nil, fmt.Errorf("containerd factory: import image %s from %s: %w", ref, path, err)
	}
	for _, i := range imgs {
		if i.Name == ref {
			return ctrd.NewImage(f.client, i), nil
		}
	}
	return nil, fmt.Errorf("containerd factory: archive %s does not contain image %s", path, ref)
}

func (f *Factory) unpack(ctx context.Context, img ctrd.Image) error {
	uctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	ok, err := img.IsUnpacked(uctx, f.cfg.Snapshotter)
	if err == nil && ok {
		return nil
	}
	if err := img.Unpack(uctx, f.cfg.Snapshotter); err != nil {
		return fmt.Errorf("containerd factory: unpack image %s: %w", img.Name(), err)
	}
	return nil
}

// Close releases the client and, with Network.RemoveOnClose and no
// container of the factory left, the bridge and its firewall rules.
func (f *Factory) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	n := len(f.live)
	f.mu.Unlock()
	f.netns.close()
	f.snaps.close()
	var errs []error
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	errs = append(errs, f.deleteLease(dctx))
	dcancel()
	if n == 0 && f.cfg.Network.RemoveOnClose {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs = append(errs, f.net.teardown(ctx))
		cancel()
	}
	errs = append(errs, f.client.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("containerd factory: close: %w", err)
	}
	return nil
}

// Create starts one container for spec: a read-only snapshot view of the
// kind's image, the limits of the spec, a network address on the bridge.
// It returns once the proxy process runs; it may still be binding its port.
func (f *Factory) Create(ctx context.Context, spec invoker.ContainerSpec) (invoker.Container, error) {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("create container %q: %w: %w", spec.Name, invoker.ErrContainerStart, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create container %q: %w: %w", spec.Name, invoker.ErrContainerStart, err)
	}
	c, err := f.create(f.ctx(ctx), spec)
	if err != nil {
		return nil, fmt.Errorf("create container %q: %w: %w", spec.Name, invoker.ErrContainerStart, err)
	}
	return c, nil
}

func (f *Factory) image(spec invoker.ContainerSpec) (ctrd.Image, error) {
	ref := spec.Image
	if ref == "" {
		ref = f.cfg.Images[spec.Kind]
	}
	f.mu.Lock()
	img, ok := f.images[ref]
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("kind %q, image %q: %w (build it with `make images`)", spec.Kind, ref, ErrNoImage)
	}
	return img, nil
}

func (f *Factory) create(ctx context.Context, spec invoker.ContainerSpec) (_ *Container, err error) {
	img, err := f.image(spec)
	if err != nil {
		return nil, err
	}
	ref := img.Name()
	id := invoker.SafeName(spec.Name, 48, "action") + "-" + randomHex(4)
	memMB := spec.MemoryMB
	if memMB <= 0 {
		memMB = 256
	}
	env := map[string]string{"__OW_KIND": spec.Kind}
	maps.Copy(env, spec.Env)
	envList := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		envList = append(envList, k+"="+env[k])
	}
	cgroup := "/" + f.cfg.Namespace + "/" + id
	// The pools refill once this container started (or failed to), so
	// that preparing the next one does not compete with this start.
	defer f.refill()
	tr := newTrace()
	// Under the factory's lease: NewContainer then creates none of its own.
	ctx = f.leaseCtx(ctx)
	netns, err := f.netns.take(ctx)
	if err != nil {
		return nil, err
	}
	tr.mark("netns")
	snap, err := f.snaps.take(ctx, ref)
	if err != nil {
		f.netns.release(netns)
		return nil, err
	}
	tr.mark("view")
	own := []oci.SpecOpts{
		oci.WithEnv(envList),
		oci.WithMemoryLimit(uint64(memMB) << 20),
		oci.WithCPUShares(uint64(max(2, memMB*1024/256))),
		oci.WithCgroup(cgroup),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netns.path()}),
	}
	s, err := f.specFor(ctx, ref, id, snap, own...)
	if err != nil {
		f.snaps.remove(snap)
		f.netns.release(netns)
		return nil, err
	}
	tr.mark("spec")
	container, err := f.client.NewContainer(ctx, id,
		ctrd.WithImageName(ref),
		ctrd.WithSnapshotter(f.cfg.Snapshotter),
		ctrd.WithSnapshot(snap),
		ctrd.WithContainerLabels(map[string]string{labelOwner: f.cfg.Owner, "org.brisk.kind": spec.Kind, labelNetns: netns.name}),
		ctrd.WithSpec(s),
	)
	if err != nil {
		f.snaps.remove(snap)
		f.netns.release(netns)
		return nil, fmt.Errorf("new container: %w", err)
	}
	tr.mark("container")
	c := &Container{id: id, factory: f, container: container, cgroup: cgroup, exited: make(chan struct{}), netns: netns,
		snapshot: snap, addr: fmt.Sprintf("%s:%d", netns.ip, images.ProxyPort)}
	defer func() {
		if err != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if derr := c.teardown(dctx); derr != nil {
				f.log.Warn("remove container after failed start", "container", id, "err", derr)
			}
			cancel()
		}
	}()
	pump, outW, errW, err := newLogPump(f.cfg.LogBuffer, f.cfg.LogDropAfter)
	if err != nil {
		return c, err
	}
	c.pump = pump
	task, err := container.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, outW, errW), cio.WithFIFODir(f.fifos)))
	if err != nil {
		return c, fmt.Errorf("new task: %w", err)
	}
	c.task = task
	tr.mark("newTask")
	exitC, err := task.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return c, fmt.Errorf("wait for task: %w", err)
	}
	c.watching = true
	go c.watch(exitC)
	if err := task.Start(ctx); err != nil {
		return c, fmt.Errorf("start task: %w", err)
	}
	f.mu.Lock()
	f.live[id] = c
	f.mu.Unlock()
	tr.mark("start")
	c.waitListening(ctx)
	tr.mark("listening")
	f.log.Debug("container started", append([]any{"container", id, "kind", spec.Kind, "addr", c.addr, "memoryMB", memMB}, tr.attrs()...)...)
	if f.onTrace != nil {
		f.onTrace(tr)
	}
	return c, nil
}

// refill lets the pools prepare what the last Create took.
func (f *Factory) refill() {
	f.netns.refill()
	f.snaps.refill()
}

func (f *Factory) forget(c *Container) {
	f.mu.Lock()
	if f.live[c.id] == c {
		delete(f.live, c.id)
	}
	f.mu.Unlock()
}

// Cleanup removes the containers (and their tasks, snapshots and network
// addresses) that an earlier factory with the same Owner left behind.
// Containers of this factory are not touched.
func (f *Factory) Cleanup(ctx context.Context) error {
	ctx = f.ctx(ctx)
	list, err := f.client.Containers(ctx, fmt.Sprintf("labels.%q==%s", labelOwner, f.cfg.Owner))
	if err != nil {
		return fmt.Errorf("cleanup: list containers: %w", err)
	}
	f.mu.Lock()
	live := maps.Clone(f.live)
	f.mu.Unlock()
	var errs []error
	removed := 0
	for _, c := range list {
		if _, ok := live[c.ID()]; ok {
			continue
		}
		if err := removeLeftover(ctx, f, c); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if len(errs) == 0 {
		// Namespaces of containers removed above, or prepared by the
		// earlier run: none of them is this factory's.
		if err := f.netns.removeLeftovers(); err != nil {
			errs = append(errs, err)
		}
		// Views the earlier run prepared, then its lease.
		if err := f.snaps.removeLeftovers(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := f.removeOldLeases(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(live) == 0 && len(errs) == 0 {
		if err := removeStaleFIFOs(f.fifos); err != nil {
			errs = append(errs, err)
		}
	}
	if removed > 0 {
		f.log.Info("cleanup: removed leftover containers", "count", removed)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	return nil
}

func removeLeftover(ctx context.Context, f *Factory, c ctrd.Container) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	task, err := c.Task(cctx, nil)
	switch {
	case err == nil:
		if st, serr := task.Status(cctx); serr == nil && st.Status == ctrd.Paused {
			_ = task.Resume(cctx)
		}
		if _, err := task.Delete(cctx, ctrd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove leftover task %s: %w", c.ID(), err)
		}
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("load leftover task %s: %w", c.ID(), err)
	}
	if err := c.Delete(cctx, ctrd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove leftover container %s: %w", c.ID(), err)
	}
	return nil
}

func removeStaleFIFOs(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// signalKill is SIGKILL as containerd's Kill wants it.
const signalKill = syscall.SIGKILL
