package containerd_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/containerd"
	"github.com/brisk-serverless/brisk/invoker/containertest"
)

// The labels an operator finds on what a factory prepares ahead.
const (
	ownerLabel = "org.brisk.owner"
	leaseLabel = "org.brisk.lease"
)

func nsCtx(f *containerd.Factory) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	return namespaces.WithNamespace(ctx, f.Namespace()), cancel
}

// createSpec creates a container from spec, destroyed when the test ends.
func createSpec(t *testing.T, f invoker.ContainerFactory, spec invoker.ContainerSpec) *containerd.Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := f.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Destroy(ctx); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	return c.(*containerd.Container)
}

func ociSpec(t *testing.T, f *containerd.Factory, c *containerd.Container) *specs.Spec {
	t.Helper()
	ctx, cancel := nsCtx(f)
	defer cancel()
	cont, err := f.Client().LoadContainer(ctx, c.ID())
	if err != nil {
		t.Fatal(err)
	}
	s, err := cont.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestContainersOfOneImageKeepTheirOwnSettings: the spec of an image is
// computed once and copied; each container still gets its own memory
// limit, environment, cgroup, network namespace and root file system
// view, and one container's environment never shows in another.
func TestContainersOfOneImageKeepTheirOwnSettings(t *testing.T) {
	requireDaemon(t)
	f := newFactory(t)
	// Registered first, so it runs after the containers' own cleanups.
	t.Cleanup(func() { f.Close() })
	a := createSpec(t, f, invoker.ContainerSpec{Name: "a", Kind: "nodejs:20", MemoryMB: 128, Env: map[string]string{"A_ONLY": "1"}})
	b := createSpec(t, f, invoker.ContainerSpec{Name: "b", Kind: "nodejs:20", MemoryMB: 256, Env: map[string]string{"B_ONLY": "2"}})
	sa, sb := ociSpec(t, f, a), ociSpec(t, f, b)
	for _, c := range []struct {
		s           *specs.Spec
		c           *containerd.Container
		mem         int64
		has, hasNot string
	}{{sa, a, 128 << 20, "A_ONLY=1", "B_ONLY=2"}, {sb, b, 256 << 20, "B_ONLY=2", "A_ONLY=1"}} {
		if got := *c.s.Linux.Resources.Memory.Limit; got != c.mem {
			t.Errorf("%s: memory limit %d, want %d", c.c.ID(), got, c.mem)
		}
		if !slices.Contains(c.s.Process.Env, c.has) || slices.Contains(c.s.Process.Env, c.hasNot) {
			t.Errorf("%s: env %v: want %s, not %s", c.c.ID(), c.s.Process.Env, c.has, c.hasNot)
		}
		if !slices.Contains(c.s.Process.Env, "__OW_KIND=nodejs:20") {
			t.Errorf("%s: env %v lacks __OW_KIND", c.c.ID(), c.s.Process.Env)
		}
		if c.s.Linux.CgroupsPath != c.c.Cgroup() {
			t.Errorf("%s: cgroup %s, want %s", c.c.ID(), c.s.Linux.CgroupsPath, c.c.Cgroup())
		}
		if c.s.Process.User.UID != 1000 || !c.s.Root.Readonly || !c.s.Process.NoNewPrivileges ||
			len(c.s.Process.Capabilities.Bounding) != 0 || len(c.s.Process.Capabilities.Effective) != 0 {
			t.Errorf("%s: user %+v, read-only root %v, no_new_privs %v, capabilities %+v", c.c.ID(),
				c.s.Process.User, c.s.Root.Readonly, c.s.Process.NoNewPrivileges, c.s.Process.Capabilities)
		}
	}
	netns := func(s *specs.Spec) string {
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				return ns.Path
			}
		}
		return ""
	}
	if netns(sa) == "" || netns(sa) == netns(sb) {
		t.Errorf("network namespaces %q and %q", netns(sa), netns(sb))
	}
	ka, kb := containerd.SnapshotKey(a), containerd.SnapshotKey(b)
	if ka == kb {
		t.Fatalf("both containers use the view %s", ka)
	}

	// What the action in b sees.
	containertest.Init(t, b, containertest.Code{Kind: "nodejs:20", Code: `function main() {
  return {a: process.env.A_ONLY || "unset", b: process.env.B_ONLY || "unset"};
}`}, nil)
	if st, res := containertest.RunAction(t, b, map[string]any{}); st != 200 || res["a"] != "unset" || res["b"] != "2" {
		t.Fatalf("b sees %d %v", st, res)
	}

	// Destroy removes the container's view.
	ctx, cancel := nsCtx(f)
	defer cancel()
	if err := a.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	sn := f.Client().SnapshotService("overlayfs")
	if _, err := sn.Stat(ctx, ka); !errdefs.IsNotFound(err) {
		t.Errorf("the view %s of a destroyed container: %v", ka, err)
	}
	if _, err := sn.Stat(ctx, kb); err != nil {
		t.Errorf("the view %s of a live container: %v", kb, err)
	}
}

// inspector is a containerd client of its own, to look at what factories
// leave.
func inspector(t *testing.T) *ctrd.Client {
	t.Helper()
	c, err := ctrd.New(daemon.Address, ctrd.WithDefaultNamespace(containerd.DefaultNamespace), ctrd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func inspectCtx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	return namespaces.WithNamespace(ctx, containerd.DefaultNamespace), cancel
}

// views lists the views labelled with owner.
func views(t *testing.T, c *ctrd.Client, owner string) []snapshots.Info {
	t.Helper()
	ctx, cancel := inspectCtx()
	defer cancel()
	var out []snapshots.Info
	err := c.SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, i snapshots.Info) error {
		out = append(out, i)
		return nil
	}, fmt.Sprintf("labels.%q==%s", ownerLabel, owner))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ownerLeases(t *testing.T, c *ctrd.Client, owner string) []string {
	t.Helper()
	ctx, cancel := inspectCtx()
	defer cancel()
	ls, err := c.LeasesService().List(ctx, fmt.Sprintf("labels.%q==%s", leaseLabel, owner))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	return ids
}

// TestPreparedViewsAreRemoved: the views a factory prepares ahead go when
// it closes; those an earlier run left (it crashed before closing), with
// its lease, go at Cleanup, and the new factory's own are kept.
func TestPreparedViewsAreRemoved(t *testing.T) {
	requireDaemon(t)
	owner := config(t).Owner
	ic := inspector(t)
	f1 := newFactory(t)
	// Three images, two views each by default.
	deadline := time.Now().Add(30 * time.Second)
	for len(views(t, ic, owner)) < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("views prepared: %d, want 6", len(views(t, ic, owner)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if l := ownerLeases(t, ic, owner); !slices.Equal(l, []string{containerd.Lease(f1)}) {
		t.Fatalf("leases %v, want the factory's %s", l, containerd.Lease(f1))
	}

	// What a crashed run leaves: a lease and a view prepared under it.
	parent := views(t, ic, owner)[0].Parent
	ctx, cancel := inspectCtx()
	defer cancel()
	old, err := ic.LeasesService().Create(ctx, leases.WithID("brisk-"+owner+"-crashed"),
		leases.WithLabels(map[string]string{leaseLabel: owner}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ic.SnapshotService("overlayfs").View(leases.WithLease(ctx, old.ID), owner+"-rootfs-crashed", parent,
		snapshots.WithLabels(map[string]string{ownerLabel: owner})); err != nil {
		t.Fatal(err)
	}

	if err := f1.Close(); err != nil {
		t.Fatal(err)
	}
	if v := views(t, ic, owner); len(v) != 1 || v[0].Name != owner+"-rootfs-crashed" {
		t.Fatalf("after Close: views %v, want only the crashed run's", v)
	}
	if l := ownerLeases(t, ic, owner); !slices.Equal(l, []string{old.ID}) {
		t.Fatalf("after Close: leases %v, want only the crashed run's", l)
	}

	f2 := newFactory(t)
	t.Cleanup(func() { f2.Close() })
	cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
	defer ccancel()
	if err := f2.Cleanup(cctx); err != nil {
		t.Fatal(err)
	}
	for _, v := range views(t, ic, owner) {
		if strings.HasSuffix(v.Name, "-crashed") {
			t.Errorf("the crashed run's view %s is still there", v.Name)
		}
	}
	if l := ownerLeases(t, ic, owner); !slices.Equal(l, []string{containerd.Lease(f2)}) {
		t.Errorf("after Cleanup: leases %v, want the factory's %s", l, containerd.Lease(f2))
	}
	// The new factory's prepared views survived Cleanup: it still starts
	// containers.
	c := createSpec(t, f2, invoker.ContainerSpec{Name: "after", Kind: "python:3.11", MemoryMB: 128})
	containertest.Init(t, c, containertest.Code{Kind: "python:3.11", Code: stepsCode["python:3.11"]}, nil)
	if st, res := containertest.RunAction(t, c, map[string]any{}); st != 200 || res["ok"] != true {
		t.Fatalf("run: %d %v", st, res)
	}
}
