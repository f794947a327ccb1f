package containerd_test

import (
	"testing"

	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/containertest"
)

func TestConformance(t *testing.T) {
	requireDaemon(t)
	containertest.Run(t, containertest.Backend{
		New:   func(t *testing.T) invoker.ContainerFactory { return newFactory(t) },
		Kinds: []string{"nodejs:20", "python:3.11", "blackbox"},
	})
}
