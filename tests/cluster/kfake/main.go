// Command kfake runs Brisk's embedded Kafka-protocol broker (franz-go's
// kfake, through messaging.StartEmbedded) as a process of its own, on
// 127.0.0.1. The multi-process tests and `make cluster-up` use it where no
// Apache Kafka is installed. It prints the bootstrap address once it
// listens and runs until SIGINT or SIGTERM.
//
//	kfake [-port 9092] [-data-dir DIR]
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/brisk-serverless/brisk/messaging"
)

func main() {
	port := flag.Int("port", 9092, "127.0.0.1 port to listen on (0: any free one)")
	dataDir := flag.String("data-dir", "", "keep topics, records and offsets in this directory (default: memory only)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := messaging.StartEmbedded(messaging.EmbeddedConfig{Port: *port, DataDir: *dataDir, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Println(strings.Join(b.Addrs(), ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	if err := b.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "kfake: close:", err)
		os.Exit(1)
	}
}
