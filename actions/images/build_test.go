package images_test

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/actions/images"
)

func staticBinary(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "brisk")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/static")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, b)
	}
	return out
}

// readArchive returns the archive's files by name.
func readArchive(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}

func blob(t *testing.T, files map[string][]byte, digest string) []byte {
	t.Helper()
	b, ok := files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
	if !ok {
		t.Fatalf("blob %s missing", digest)
	}
	sum := sha256.Sum256(b)
	if "sha256:"+hex.EncodeToString(sum[:]) != digest {
		t.Fatalf("blob %s has digest %x", digest, sum)
	}
	return b
}

// TestBuildBlackboxImage builds the blackbox image and checks it is a valid
// OCI layout (every digest matches), names its reference, holds the proxy
// and /bin/sh with its libraries, and is reproducible.
func TestBuildBlackboxImage(t *testing.T) {
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Fatal("ldd is not on PATH (apt-get install libc-bin)")
	}
	bin := staticBinary(t)
	out := t.TempDir()
	idx, err := images.Build(context.Background(), images.Options{Brisk: bin, OutDir: out, Kinds: []string{"blackbox"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Images) != 1 || idx.Images[0].Ref != "brisk/dockerskeleton:latest" || idx.Images[0].Kind != "blackbox" {
		t.Fatalf("index: %+v", idx.Images)
	}
	read, err := images.ReadIndex(out)
	if err != nil || read.Images[0].Digest != idx.Images[0].Digest {
		t.Fatalf("images.json: %+v, %v", read, err)
	}
	files := readArchive(t, filepath.Join(out, idx.Images[0].File))
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %s: %v", files["index.json"], err)
	}
	m := index.Manifests[0]
	if m.Digest != idx.Images[0].Digest || m.Annotations["io.containerd.image.name"] != "brisk/dockerskeleton:latest" {
		t.Fatalf("index.json manifest: %+v", m)
	}
	var manifest struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(blob(t, files, m.Digest), &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	var config struct {
		Config struct {
			Entrypoint []string
			Env        []string
			User       string
		}
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(blob(t, files, manifest.Config.Digest), &config); err != nil {
		t.Fatal(err)
	}
	if strings.Join(config.Config.Entrypoint, " ") != "/usr/local/bin/brisk proxy --listen 0.0.0.0:8080" || config.Config.User != "1000:1000" {
		t.Errorf("config: %+v", config.Config)
	}
	if !strings.Contains(strings.Join(config.Config.Env, " "), "__OW_KIND=blackbox") {
		t.Errorf("env: %v", config.Config.Env)
	}
	layer := blob(t, files, manifest.Layers[0].Digest)
	if config.RootFS.DiffIDs[0] != manifest.Layers[0].Digest {
		t.Errorf("diff id %s, layer %s (uncompressed layers have equal digests)", config.RootFS.DiffIDs[0], manifest.Layers[0].Digest)
	}
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(strings.NewReader(string(layer)))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries[strings.TrimSuffix(h.Name, "/")] = h
	}
	if h := entries["usr/local/bin/brisk"]; h == nil || h.Mode&0o111 == 0 || h.Uid != 0 {
		t.Errorf("proxy entry: %+v", h)
	}
	if h := entries["bin"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "usr/bin" {
		t.Errorf("/bin: %+v", h)
	}
	if h := entries["tmp"]; h == nil || h.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp: %+v", h)
	}
	sh, _ := filepath.EvalSymlinks("/bin/sh")
	if entries[strings.TrimPrefix(sh, "/")] == nil {
		t.Errorf("the shell %s is missing", sh)
	}
	libc := false
	for name := range entries {
		if strings.Contains(name, "libc.so") {
			libc = true
		}
	}
	if !libc {
		t.Error("the C library is missing")
	}

	// Same inputs, same image.
	again, err := images.Build(context.Background(), images.Options{Brisk: bin, OutDir: t.TempDir(), Kinds: []string{"blackbox"}})
	if err != nil {
		t.Fatal(err)
	}
	if again.Images[0].Digest != idx.Images[0].Digest {
		t.Errorf("rebuild gave %s, first build %s", again.Images[0].Digest, idx.Images[0].Digest)
	}
}

func TestBuildRefusesDynamicProxy(t *testing.T) {
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Fatal("ldd is not on PATH (apt-get install libc-bin)")
	}
	sh, _ := filepath.EvalSymlinks("/bin/sh")
	_, err := images.Build(context.Background(), images.Options{Brisk: sh, OutDir: t.TempDir(), Kinds: []string{"blackbox"}})
	if !errors.Is(err, images.ErrDynamicBinary) {
		t.Fatalf("err = %v", err)
	}
}
