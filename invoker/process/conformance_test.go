package process_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/containertest"
)

func TestConformance(t *testing.T) {
	requireBin(t, "node")
	requireBin(t, "python3")
	var (
		mu   sync.Mutex
		dirs = map[string]string{}
	)
	containertest.Run(t, containertest.Backend{
		// Factories of one test share a work directory, so a later one's
		// Cleanup sees an earlier one's leftovers.
		New: func(t *testing.T) invoker.ContainerFactory {
			mu.Lock()
			dir, ok := dirs[t.Name()]
			if !ok {
				dir = filepath.Join(t.TempDir(), "work")
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				dirs[t.Name()] = dir
			}
			mu.Unlock()
			return newFactory(t, dir)
		},
		Kinds: []string{"nodejs:20", "python:3.11", "blackbox"},
	})
}
