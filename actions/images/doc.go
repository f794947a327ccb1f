// Package images builds Brisk's runtime images for the containerd backend
// without a registry: single-layer OCI image archives (an OCI image layout in
// a tar file, as `ctr images import` and containerd's client Import read
// them) assembled from files of the build machine.
//
// Each image holds the Brisk binary as the action proxy
// (/usr/local/bin/brisk, started as `brisk proxy`), a minimal /etc (passwd,
// group, hosts, CA certificates when the host has them) and what its kind
// needs to run:
//
//   - nodejs:20: the host's node executable and the shared libraries it
//     loads (found with ldd);
//   - python:3.11: a python3.11 interpreter, its standard library (without
//     tests, IDLE, tkinter and the other parts no action uses), its extension
//     modules and their shared libraries;
//   - blackbox: /bin/sh and the C library, for actions that ship a native
//     executable named `exec` in a zip (upstream's dockerskeleton convention).
//
// The nodejs and python images set BRISK_PRESTART=1: their proxy starts the
// runtime before /init, so a prewarmed container's first activation does
// not wait for the interpreter to start.
//
// Files keep their host paths, and every symbolic link on the way to a file
// (such as Debian's /lib -> usr/lib) is recreated, so the dynamic loader finds
// libraries exactly as it does on the host. The layer is an uncompressed tar
// with fixed timestamps and owners: the same inputs give the same digests, so
// the invoker can skip importing an image it already has.
//
// Build writes the archives and an index, images.json, naming each image's
// reference, kind, file and manifest digest; invoker/containerd imports what
// the index lists when it starts.
package images
