package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/internal/config"
	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/containerd"
	"github.com/brisk-serverless/brisk/invoker/process"
)

// factory creates the selected container backend and cleans up what an
// earlier run left. It also returns the environment every container gets.
func containerFactory(ctx context.Context, o config.Containers, self, dataDir string, log *slog.Logger) (invoker.ContainerFactory, map[string]string, error) {
	switch o.Backend {
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
		images := o.ImagesDir
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
			Address: o.Address, Namespace: o.Namespace, ImagesDir: images, Images: refs,
			// Owner is per data directory: a restart cleans up its own
			// leftovers, never another standalone's containers.
			Owner:    "standalone-" + hex.EncodeToString(sum[:6]),
			StateDir: filepath.Join(dataDir, "containerd"), Logger: log,
			Network: containerd.NetworkConfig{Bridge: o.Bridge, Subnet: o.Subnet, DenyOutbound: o.DenyOutbound},
		})
		if err != nil {
			return nil, nil, err
		}
		if err := f.Cleanup(ctx); err != nil {
			log.Warn("clean up leftover containers", "err", err)
		}
		return f, nil, nil
	}
	return nil, nil, fmt.Errorf("containers.backend: %q is neither process nor containerd", o.Backend)
}
