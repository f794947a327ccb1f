// Command brisk is Brisk's single binary: `brisk standalone` runs the whole
// platform in one process, `brisk proxy` is the action proxy inside a
// container, and `brisk controller` / `brisk invoker` are the distributed
// roles. This package only parses flags and wires the parts together.
package main

import (
	"fmt"
	"os"

	"github.com/brisk-serverless/brisk/actions/proxy"
	"github.com/brisk-serverless/brisk/admin/cli"
)

const usage = `brisk: an Apache OpenWhisk-compatible serverless platform

Usage:
  brisk standalone [--listen ADDR] [--data-dir DIR]   everything in one process
  brisk proxy [--listen ADDR] [--kind KIND]            the action proxy (/init, /run)
  brisk admin [--couchdb URL | --data-dir DIR] ...    users, keys and namespace limits (as wskadmin)
  brisk controller [--config FILE]                     the REST API and load balancer (distributed)
  brisk invoker [--config FILE]                        runs the activations of topic invoker<id> (distributed)
  brisk version

Run 'brisk <command> --help' for the flags of a command.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "standalone":
		err = runStandalone(os.Args[2:])
	case "proxy":
		err = proxy.Main(os.Args[2:])
	case "controller":
		err = runController(os.Args[2:])
	case "invoker":
		err = runInvoker(os.Args[2:])
	case "admin":
		os.Exit(cli.Main(os.Args[2:], os.Stdout, os.Stderr))
	case "version", "--version":
		fmt.Println("brisk", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "brisk: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "brisk:", err)
		os.Exit(1)
	}
}
