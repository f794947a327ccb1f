// Command proxymain runs the action proxy; the process backend's tests build
// it to have a proxy binary without depending on cmd/brisk.
package main

import (
	"fmt"
	"os"

	"github.com/brisk-serverless/brisk/actions/proxy"
)

func main() {
	if err := proxy.Main(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
