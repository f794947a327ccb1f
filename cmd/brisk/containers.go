package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/containerd"
	"github.com/brisk-serverless/brisk/invoker/process"
)

// containerOptions selects and configures the invoker's container backend.
type containerOptions struct {
	backend    string
	address    string
	namespace  string
	imagesDir  string
	bridge     string
	subnet     string
	noOutbound bool
	pauseGrace time.Duration
}

func (o *containerOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.backend, "containers", envOr("BRISK_CONTAINERS", "process"), "container backend: process (local proxy processes) or containerd")
	fs.StringVar(&o.address, "containerd-address", envOr("BRISK_CONTAINERD_ADDRESS", containerd.DefaultAddress), "containerd's socket (--containers containerd)")
	fs.StringVar(&o.namespace, "containerd-namespace", containerd.DefaultNamespace, "containerd namespace of the action containers and images")
	fs.StringVar(&o.imagesDir, "images-dir", envOr("BRISK_IMAGES_DIR", ""), "runtime images built by `make images` (default: images/ beside the brisk binary)")
	fs.StringVar(&o.bridge, "cni-bridge", "brisk0", "Linux bridge the action containers join (containerd)")
	fs.StringVar(&o.subnet, "cni-subnet", "10.209.0.0/24", "IPv4 range of the action containers (containerd)")
	fs.BoolVar(&o.noOutbound, "deny-outbound", false, "keep actions from reaching the outside network (containerd)")
	fs.DurationVar(&o.pauseGrace, "pause-grace", invoker.DefaultPauseGrace, "freeze a warm container idle that long (containerd; negative: never)")
}

// factory creates the selected container backend and cleans up what an
// earlier run left. It also returns the environment every container gets.
func (o *containerOptions) factory(ctx context.Context, self, dataDir string, log *slog.Logger) (invoker.ContainerFactory, map[string]string, error) {
	switch o.backend {
	case "process":
		f, err := process.New(process.Config{ProxyCommand: []string{self, "proxy"}, WorkDir: filepath.Join(dataDir, "containers")})
		if err != nil {
			return nil, nil, err
		}
		if err := f.Cleanup(ctx); err != nil {
			log.Warn("clean up leftover containers", "err", err)
		}
		return f, resolveInterpreters(ctx, log), nil
	case "containerd":
		images := o.imagesDir
		if images == "" {
			images = filepath.Join(filepath.Dir(self), "images")
		}
		m := api.DefaultManifest()
		refs := map[string]string{}
		for _, k := range append(m.Kinds(), "blackbox") {
			if rt, ok := m.Resolve(k); ok {
				refs[k] = rt.ImageRef()
			}
		}
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return nil, nil, fmt.Errorf("data dir: %w", err)
		}
		sum := sha256.Sum256([]byte(abs))
		f, err := containerd.New(ctx, containerd.Config{
			Address: o.address, Namespace: o.namespace, ImagesDir: images, Images: refs,
			// Owner is per data directory: a restart cleans up its own
			// leftovers, never another standalone's containers.
			Owner:    "standalone-" + hex.EncodeToString(sum[:6]),
			StateDir: filepath.Join(dataDir, "containerd"), Logger: log,
			Network: containerd.NetworkConfig{Bridge: o.bridge, Subnet: o.subnet, DenyOutbound: o.noOutbound},
		})
		if err != nil {
			return nil, nil, err
		}
		if err := f.Cleanup(ctx); err != nil {
			log.Warn("clean up leftover containers", "err", err)
		}
		return f, nil, nil
	}
	return nil, nil, fmt.Errorf("--containers: %q is neither process nor containerd", o.backend)
}
