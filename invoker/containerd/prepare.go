package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/brisk-serverless/brisk/actions/images"
)

// What a cold start needs that does not depend on the action is prepared
// once or ahead of time, off the cold-start path:
//
//   - a lease per factory, so that creating a container does not create and
//     delete one of its own (two metadata writes) to protect its snapshot
//     from containerd's garbage collector;
//   - the part of the OCI spec that depends only on the image (its config,
//     the user and its groups, read from the image's /etc through a
//     temporary mount), once per image;
//   - read-only views of each image's root file system, a few per image
//     (snapshotPool), like the network namespaces (netnsPool).
//
// The pools are refilled after a Create returns, not when it takes from
// them: on two cores the refill (CNI plugins, snapshot metadata writes)
// would otherwise compete with the start it is meant to speed up.

// labelLease marks the factory's lease; labelOwner on a snapshot marks it
// as one the factory prepared.
const labelLease = "org.brisk.lease"

// newLease creates the factory's lease. Resources created under it (the
// prepared snapshots) are safe from the garbage collector until a
// container references them or they are removed.
func (f *Factory) newLease(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(f.ctx(ctx), 10*time.Second)
	defer cancel()
	l, err := f.client.LeasesService().Create(ctx,
		leases.WithID("brisk-"+f.cfg.Owner+"-"+randomHex(6)),
		leases.WithLabels(map[string]string{labelLease: f.cfg.Owner}))
	if err != nil {
		return fmt.Errorf("create lease: %w", err)
	}
	f.lease = l.ID
	return nil
}

// leaseCtx adds the factory's namespace and lease to ctx.
func (f *Factory) leaseCtx(ctx context.Context) context.Context {
	return leases.WithLease(f.ctx(ctx), f.lease)
}

// deleteLease deletes the factory's lease: what it still holds (prepared
// snapshots not yet removed) becomes garbage.
func (f *Factory) deleteLease(ctx context.Context) error {
	if err := f.client.LeasesService().Delete(f.ctx(ctx), leases.Lease{ID: f.lease}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete lease %s: %w", f.lease, err)
	}
	return nil
}

// removeOldLeases deletes the leases earlier factories with the same Owner
// left (a crash skips Close).
func (f *Factory) removeOldLeases(ctx context.Context) error {
	ls := f.client.LeasesService()
	list, err := ls.List(f.ctx(ctx), fmt.Sprintf("labels.%q==%s", labelLease, f.cfg.Owner))
	if err != nil {
		return fmt.Errorf("list leases: %w", err)
	}
	var errs []error
	for _, l := range list {
		if l.ID == f.lease {
			continue
		}
		if err := ls.Delete(f.ctx(ctx), l); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete lease %s: %w", l.ID, err))
		}
	}
	return errors.Join(errs...)
}

// imageSpec is what the spec of a container of one image starts from.
type imageSpec struct {
	once sync.Once
	spec []byte // JSON of the spec before the container's own options
	err  error
}

// specFor returns the OCI spec of container id: a copy of the image's
// base spec (computed on the image's first container, with that
// container's snapshot snapshotKey) plus the container's options.
func (f *Factory) specFor(ctx context.Context, ref, id, snapshotKey string, own ...oci.SpecOpts) (*specs.Spec, error) {
	f.mu.Lock()
	is := f.specs[ref]
	if is == nil {
		is = &imageSpec{}
		f.specs[ref] = is
	}
	img := f.images[ref]
	f.mu.Unlock()
	is.once.Do(func() {
		mounts := []specs.Mount{{
			Type: "tmpfs", Source: "tmpfs", Destination: "/tmp",
			Options: []string{"nosuid", "nodev", "mode=1777", fmt.Sprintf("size=%dm", f.cfg.TmpfsMB)},
		}}
		if f.resolvConf != "" {
			mounts = append(mounts, specs.Mount{Type: "bind", Source: f.resolvConf, Destination: "/etc/resolv.conf",
				Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}})
		}
		var s *specs.Spec
		s, is.err = oci.GenerateSpec(ctx, f.client,
			&containers.Container{ID: id, Snapshotter: f.cfg.Snapshotter, SnapshotKey: snapshotKey},
			oci.WithImageConfig(img),
			oci.WithHostname("action"),
			oci.WithUIDGID(images.ActionUID, images.ActionGID),
			oci.WithCapabilities(nil),
			oci.WithNoNewPrivileges,
			oci.WithRootFSReadonly(),
			oci.WithMounts(mounts),
			oci.WithPidsLimit(f.cfg.PidsLimit),
		)
		if is.err == nil {
			is.spec, is.err = json.Marshal(s)
		}
		if is.err != nil {
			is.err = fmt.Errorf("spec of image %s: %w", ref, is.err)
		}
	})
	if is.err != nil {
		// Try again with the next container.
		f.mu.Lock()
		if f.specs[ref] == is {
			delete(f.specs, ref)
		}
		f.mu.Unlock()
		return nil, is.err
	}
	var s specs.Spec
	if err := json.Unmarshal(is.spec, &s); err != nil {
		return nil, fmt.Errorf("copy spec of image %s: %w", ref, err)
	}
	c := &containers.Container{ID: id, Snapshotter: f.cfg.Snapshotter, SnapshotKey: snapshotKey}
	for _, o := range own {
		if err := o(ctx, f.client, c, &s); err != nil {
			return nil, fmt.Errorf("container spec: %w", err)
		}
	}
	return &s, nil
}

// snapshotPool keeps a few read-only views of each runtime image's root
// file system ready (a view of a single-layer image is a read-only bind
// mount of the unpacked layer). A view is used by one container and
// removed with it; the pool's are removed when it closes.
type snapshotPool struct {
	f       *Factory
	parents map[string]string // image ref → chain id of its layers
	pools   map[string]*readyPool[string]

	mu    sync.Mutex
	owned map[string]bool // views created and not yet handed out or removed
}

func newSnapshotPool(f *Factory, parents map[string]string, size int) *snapshotPool {
	p := &snapshotPool{f: f, parents: parents, pools: map[string]*readyPool[string]{}, owned: map[string]bool{}}
	for ref := range parents {
		p.pools[ref] = newReadyPool(size, "root file system view of "+ref,
			func(ctx context.Context) (string, error) { return p.create(ctx, ref) }, p.remove, nil, f.log.Warn)
	}
	return p
}

// refill tops up every image's views.
func (p *snapshotPool) refill() {
	for _, rp := range p.pools {
		rp.refill()
	}
}

// take returns the key of a prepared view of image ref, or prepares one
// now. The view stays the pool's (Cleanup leaves it alone) until the
// container using it gives it back with disown.
func (p *snapshotPool) take(ctx context.Context, ref string) (string, error) {
	rp, ok := p.pools[ref]
	if !ok {
		return "", fmt.Errorf("image %s: %w", ref, ErrNoImage)
	}
	return rp.take(ctx)
}

// disown forgets a view (removed with its container).
func (p *snapshotPool) disown(key string) {
	p.mu.Lock()
	delete(p.owned, key)
	p.mu.Unlock()
}

func (p *snapshotPool) create(ctx context.Context, ref string) (string, error) {
	parent, ok := p.parents[ref]
	if !ok {
		return "", fmt.Errorf("image %s: %w", ref, ErrNoImage)
	}
	key := p.f.cfg.Owner + "-rootfs-" + randomHex(8)
	p.mu.Lock()
	p.owned[key] = true
	p.mu.Unlock()
	_, err := p.f.client.SnapshotService(p.f.cfg.Snapshotter).View(p.f.leaseCtx(ctx), key, parent,
		snapshots.WithLabels(map[string]string{labelOwner: p.f.cfg.Owner}))
	if err != nil {
		p.disown(key)
		return "", fmt.Errorf("view of image %s: %w", ref, err)
	}
	return key, nil
}

// remove removes a view the pool owns.
func (p *snapshotPool) remove(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.f.client.SnapshotService(p.f.cfg.Snapshotter).Remove(p.f.leaseCtx(ctx), key); err != nil && !errdefs.IsNotFound(err) {
		p.f.log.Warn("remove prepared view", "key", key, "err", err)
	}
	p.disown(key)
}

// close stops the fillers and removes the prepared views.
func (p *snapshotPool) close() {
	for _, rp := range p.pools {
		rp.close()
	}
}

// removeLeftovers removes the views labelled with the factory's owner that
// this pool did not create (an earlier run's prepared views; its
// containers' views went with them).
func (p *snapshotPool) removeLeftovers(ctx context.Context) error {
	sn := p.f.client.SnapshotService(p.f.cfg.Snapshotter)
	var keys []string
	err := sn.Walk(p.f.ctx(ctx), func(_ context.Context, info snapshots.Info) error {
		keys = append(keys, info.Name)
		return nil
	}, fmt.Sprintf("labels.%q==%s", labelOwner, p.f.cfg.Owner))
	if err != nil {
		return fmt.Errorf("list prepared views: %w", err)
	}
	var errs []error
	for _, key := range keys {
		p.mu.Lock()
		mine := p.owned[key]
		p.mu.Unlock()
		if mine {
			continue
		}
		if err := sn.Remove(p.f.ctx(ctx), key); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove leftover view %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}
