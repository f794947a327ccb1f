// Command brisk-images builds Brisk's runtime images (OCI archives) for the
// containerd backend: `make images` runs it as
//
//	go run ./actions/images/cmd/brisk-images -brisk bin/brisk -out bin/images
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/brisk-serverless/brisk/actions/images"
)

func main() {
	brisk := flag.String("brisk", "bin/brisk", "statically linked brisk binary to use as the action proxy")
	out := flag.String("out", "bin/images", "directory for the archives and images.json")
	kinds := flag.String("kinds", "", "comma-separated kinds to build (default: all)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opt := images.Options{Brisk: *brisk, OutDir: *out, Logf: func(f string, a ...any) { fmt.Printf(f+"\n", a...) }}
	if *kinds != "" {
		opt.Kinds = strings.Split(*kinds, ",")
	}
	start := time.Now()
	if _, err := images.Build(ctx, opt); err != nil {
		fmt.Fprintln(os.Stderr, "brisk-images:", err)
		os.Exit(1)
	}
	fmt.Printf("images: done in %v\n", time.Since(start).Round(time.Millisecond))
}
