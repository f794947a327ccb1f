package process

import (
	"errors"

	"golang.org/x/sys/unix"
)

// waitExited blocks until process pid (a child of ours) has exited, without
// reaping it, so its pid keeps naming its process group until cmd.Wait.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}
