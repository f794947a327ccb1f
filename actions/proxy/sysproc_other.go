//go:build !linux

package proxy

import "os/exec"

// setChildAttrs has nothing to add outside Linux.
func setChildAttrs(*exec.Cmd) {}
