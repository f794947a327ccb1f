package proxy

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the kernel kill the launcher if the proxy dies without
// a chance to clean up.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
