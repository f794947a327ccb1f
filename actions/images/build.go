package images

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/brisk-serverless/brisk/api"
)

// IndexFile is the name of the index Build writes beside the archives.
const IndexFile = "images.json"

// ProxyPath is where the Brisk binary lives inside every image.
const ProxyPath = "/usr/local/bin/brisk"

// ProxyPort is the port the proxy listens on inside the container.
const ProxyPort = 8080

// ActionUID and ActionGID are the unprivileged user actions run as.
const (
	ActionUID = 1000
	ActionGID = 1000
)

// epoch is the timestamp of every file in a layer (reproducible digests).
var epoch = time.Unix(0, 0).UTC()

// Options says what Build makes.
type Options struct {
	// Brisk is the statically linked brisk binary that becomes the proxy.
	Brisk string
	// OutDir receives the archives and images.json.
	OutDir string
	// Manifest names the image of each kind (default api.DefaultManifest()).
	Manifest *api.Manifest
	// Kinds limits the build to these kinds (default: every kind the
	// manifest lists that Build knows how to make, plus "blackbox").
	Kinds []string
	// Node and Python override the interpreters copied into the images
	// (default: node on PATH; python3.11 in /usr/bin, else on PATH).
	Node, Python string
	// Logf receives progress lines; nil is silent.
	Logf func(format string, args ...any)
}

// Index lists the images of a directory.
type Index struct {
	Images []Entry `json:"images"`
}

// Entry is one image archive.
type Entry struct {
	// Ref is the image reference, e.g. "brisk/action-nodejs-v20:latest".
	Ref string `json:"ref"`
	// Kind is the action kind the image runs.
	Kind string `json:"kind"`
	// File is the archive's name inside the directory.
	File string `json:"file"`
	// Digest is the image manifest's digest ("sha256:...").
	Digest string `json:"digest"`
	// Size is the archive's size in bytes.
	Size int64 `json:"size"`
}

// ReadIndex reads dir/images.json.
func ReadIndex(dir string) (*Index, error) {
	data, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	var idx Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("decode image index %s: %w", filepath.Join(dir, IndexFile), err)
	}
	return &idx, nil
}

// Build assembles the images and writes OutDir/images.json.
func Build(ctx context.Context, opt Options) (*Index, error) {
	if opt.Brisk == "" {
		return nil, errors.New("build images: no brisk binary given")
	}
	if opt.Manifest == nil {
		opt.Manifest = api.DefaultManifest()
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("build images: %w", err)
	}
	if err := checkStatic(ctx, opt.Brisk); err != nil {
		return nil, err
	}
	kinds := opt.Kinds
	if len(kinds) == 0 {
		kinds = append(opt.Manifest.Kinds(), "blackbox")
	}
	idx := &Index{}
	for _, kind := range kinds {
		rt, ok := opt.Manifest.Resolve(kind)
		if !ok {
			return nil, fmt.Errorf("build images: kind %q is not in the manifest", kind)
		}
		start := time.Now()
		fs, env, err := rootfsFor(ctx, rt.Kind, opt)
		if errors.Is(err, errUnknownFamily) {
			opt.Logf("images: skipping %s: no recipe for this kind", kind)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("build image for %s: %w", kind, err)
		}
		ref := rt.ImageRef()
		file := rt.Image.Name + ".oci.tar"
		env = append(env, "__OW_KIND="+rt.Kind)
		e, err := writeArchive(filepath.Join(opt.OutDir, file), ref, rt.Kind, fs, env)
		if err != nil {
			return nil, fmt.Errorf("build image for %s: %w", kind, err)
		}
		e.File = file
		idx.Images = append(idx.Images, e)
		opt.Logf("images: %s (%s) -> %s, %d MB, %s in %v", ref, kind, file, e.Size>>20, e.Digest[:19], time.Since(start).Round(time.Millisecond))
	}
	data, _ := json.MarshalIndent(idx, "", "  ")
	if err := writeFileAtomic(filepath.Join(opt.OutDir, IndexFile), append(data, '\n')); err != nil {
		return nil, fmt.Errorf("build images: %w", err)
	}
	return idx, nil
}

var errUnknownFamily = errors.New("no image recipe")

// rootfsFor collects the files of one kind's image and its environment.
func rootfsFor(ctx context.Context, kind string, opt Options) (*tree, []string, error) {
	t := newTree()
	t.base()
	if err := t.addFile(opt.Brisk, ProxyPath, 0o755); err != nil {
		return nil, nil, err
	}
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8"}
	family, _, _ := strings.Cut(kind, ":")
	switch family {
	case "nodejs":
		node, err := findNode(opt.Node)
		if err != nil {
			return nil, nil, err
		}
		if err := t.addBinary(ctx, node); err != nil {
			return nil, nil, err
		}
		env = append(env, "BRISK_NODE="+node, "BRISK_PRESTART=1")
	case "python":
		py, err := findPython(ctx, opt.Python)
		if err != nil {
			return nil, nil, err
		}
		if err := t.addPython(ctx, py); err != nil {
			return nil, nil, err
		}
		env = append(env, "BRISK_PYTHON3="+py, "PYTHONDONTWRITEBYTECODE=1", "BRISK_PRESTART=1")
	case "blackbox":
		sh, err := filepath.EvalSymlinks("/bin/sh")
		if err != nil {
			return nil, nil, fmt.Errorf("find /bin/sh: %w", err)
		}
		if err := t.addBinary(ctx, sh); err != nil {
			return nil, nil, err
		}
		if err := t.addPath("/bin/sh"); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, errUnknownFamily
	}
	return t, env, nil
}

// ErrDynamicBinary is returned (wrapped) by Build when the brisk binary is
// dynamically linked: it must run in every image.
var ErrDynamicBinary = errors.New("dynamically linked")

// checkStatic refuses a dynamically linked brisk: it must run in every image.
func checkStatic(ctx context.Context, bin string) error {
	libs, err := sharedLibs(ctx, bin)
	if err != nil {
		return err
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s is %w (build it with CGO_ENABLED=0, as `make build` does)", bin, ErrDynamicBinary)
	}
	return nil
}

func findNode(override string) (string, error) {
	p := override
	if p == "" {
		p = os.Getenv("BRISK_NODE")
	}
	if p == "" {
		var err error
		if p, err = exec.LookPath("node"); err != nil {
			return "", fmt.Errorf("find node for the nodejs image: %w", err)
		}
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("find node for the nodejs image: %w", err)
	}
	return real, nil
}

// findPython prefers the distribution's python3.11, then python3.11 and
// python3 on PATH (asking the interpreter for its real path, which skips
// version-manager shims).
func findPython(ctx context.Context, override string) (string, error) {
	candidates := []string{override}
	if override == "" {
		candidates = []string{"/usr/bin/python3.11", "python3.11", "python3"}
	}
	var errs []error
	for _, c := range candidates {
		if !filepath.IsAbs(c) {
			p, err := exec.LookPath(c)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			c = p
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		out, err := exec.CommandContext(cctx, c, "-c", "import sys; print(sys.executable)").Output()
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c, err))
			continue
		}
		real, err := filepath.EvalSymlinks(strings.TrimSpace(string(out)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return real, nil
	}
	return "", fmt.Errorf("find python for the python image: %w", errors.Join(errs...))
}

// pythonExclude lists standard-library directories no action needs.
var pythonExclude = map[string]bool{
	"test": true, "tests": true, "idlelib": true, "tkinter": true, "turtledemo": true, "ensurepip": true,
	"lib2to3": true, "site-packages": true, "dist-packages": true, "pydoc_data": true,
}

// addPython copies the interpreter, its standard library and the shared
// libraries of the interpreter and of its extension modules.
func (t *tree) addPython(ctx context.Context, py string) error {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, py, "-c",
		"import sysconfig; p = sysconfig.get_paths(); print(p['stdlib']); print(p['platstdlib']); print(sysconfig.get_config_var('DESTSHARED') or '')").Output()
	if err != nil {
		return fmt.Errorf("ask %s for its library paths: %w", py, err)
	}
	if err := t.addBinary(ctx, py); err != nil {
		return err
	}
	var dirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			dirs = append(dirs, l)
		}
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		real, err := filepath.EvalSymlinks(d)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		if err := t.addPath(d); err != nil {
			return err
		}
		var sos []string
		err = filepath.WalkDir(real, func(p string, de os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(real, p)
			if de.IsDir() && p != real && (pythonExclude[de.Name()] && !strings.Contains(rel, string(filepath.Separator)) ||
				strings.HasPrefix(de.Name(), "config-")) {
				return filepath.SkipDir
			}
			if de.IsDir() {
				t.dir(p, 0o755)
				return nil
			}
			if de.Type()&os.ModeSymlink != 0 {
				return t.addPath(p)
			}
			if !de.Type().IsRegular() || strings.HasSuffix(p, ".a") {
				return nil
			}
			if strings.HasSuffix(p, ".so") {
				sos = append(sos, p)
			}
			return t.addFile(p, p, 0)
		})
		if err != nil {
			return fmt.Errorf("copy %s: %w", real, err)
		}
		if len(sos) > 0 {
			if err := t.addLibsOf(ctx, sos...); err != nil {
				return err
			}
		}
	}
	return nil
}

// tree is an in-memory file system: path -> entry.
type tree struct {
	entries map[string]*entry
}

type entry struct {
	typ    byte // tar.TypeDir, tar.TypeReg, tar.TypeSymlink
	mode   int64
	src    string // host file for TypeReg
	data   []byte // literal content for TypeReg when src is empty
	target string // TypeSymlink
	size   int64
}

func newTree() *tree { return &tree{entries: map[string]*entry{}} }

// base adds the directories and /etc files every image has.
func (t *tree) base() {
	for _, d := range []string{"/proc", "/sys", "/dev", "/etc", "/run", "/usr/bin", "/usr/lib", "/usr/local/bin", "/var"} {
		t.dir(d, 0o755)
	}
	t.dir("/tmp", 0o1777)
	t.dir("/var/tmp", 0o1777)
	// usrmerge: the same links Debian has, so host paths resolve alike.
	t.symlink("/bin", "usr/bin")
	t.symlink("/lib", "usr/lib")
	t.symlink("/lib64", "usr/lib64")
	t.symlink("/sbin", "usr/sbin")
	t.data("/etc/passwd", 0o644, fmt.Sprintf("root:x:0:0:root:/root:/usr/sbin/nologin\naction:x:%d:%d:action:/tmp:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", ActionUID, ActionGID))
	t.data("/etc/group", 0o644, fmt.Sprintf("root:x:0:\naction:x:%d:\nnogroup:x:65534:\n", ActionGID))
	t.data("/etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	t.data("/etc/nsswitch.conf", 0o644, "passwd: files\ngroup: files\nhosts: files dns\n")
	t.data("/etc/resolv.conf", 0o644, "")
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		_ = t.addFile("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt", 0o644)
	}
}

func (t *tree) dir(p string, mode int64) {
	p = filepath.Clean(p)
	for d := filepath.Dir(p); d != "/" && d != "."; d = filepath.Dir(d) {
		if _, ok := t.entries[d]; !ok {
			t.entries[d] = &entry{typ: tar.TypeDir, mode: 0o755}
		}
	}
	if e, ok := t.entries[p]; ok && e.typ == tar.TypeDir {
		if mode != 0o755 {
			e.mode = mode
		}
		return
	}
	t.entries[p] = &entry{typ: tar.TypeDir, mode: mode}
}

func (t *tree) symlink(p, target string) {
	t.dir(filepath.Dir(p), 0o755)
	t.entries[filepath.Clean(p)] = &entry{typ: tar.TypeSymlink, target: target}
}

func (t *tree) data(p string, mode int64, content string) {
	t.dir(filepath.Dir(p), 0o755)
	t.entries[p] = &entry{typ: tar.TypeReg, mode: mode, data: []byte(content), size: int64(len(content))}
}

// addFile copies host file src to dst in the image (mode 0: the host's
// permission bits, made readable by everyone).
func (t *tree) addFile(src, dst string, mode int64) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("add %s: %w", src, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("add %s: not a regular file", src)
	}
	if mode == 0 {
		mode = int64(st.Mode().Perm()) | 0o444
		if st.Mode().Perm()&0o111 != 0 {
			mode |= 0o111
		}
		mode &^= 0o022
	}
	t.dir(filepath.Dir(dst), 0o755)
	t.entries[filepath.Clean(dst)] = &entry{typ: tar.TypeReg, mode: mode, src: src, size: st.Size()}
	return nil
}

// addPath adds host path p at the same place in the image, recreating
// every symbolic link met on the way (in its directories and at the end).
func (t *tree) addPath(p string) error {
	return t.addPathDepth(filepath.Clean(p), 0)
}

func (t *tree) addPathDepth(p string, depth int) error {
	if depth > 40 {
		return fmt.Errorf("add %s: too many levels of symbolic links", p)
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := filepath.Join(cur, part)
		st, err := os.Lstat(next)
		if err != nil {
			return fmt.Errorf("add %s: %w", p, err)
		}
		if st.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(next)
			if err != nil {
				return fmt.Errorf("add %s: %w", p, err)
			}
			if e, ok := t.entries[next]; !ok || e.typ != tar.TypeSymlink {
				if ok && e.typ == tar.TypeDir {
					// The image already has a real directory here (from
					// another path); keep it and follow the host link.
				} else {
					t.symlink(next, target)
				}
			}
			abs := target
			if !filepath.IsAbs(abs) {
				abs = filepath.Join(filepath.Dir(next), target)
			}
			rest := filepath.Join(append([]string{abs}, parts[i+1:]...)...)
			return t.addPathDepth(rest, depth+1)
		}
		if i == len(parts)-1 {
			if st.IsDir() {
				t.dir(next, 0o755)
				return nil
			}
			return t.addFile(next, next, 0)
		}
		if !st.IsDir() {
			return fmt.Errorf("add %s: %s is not a directory", p, next)
		}
		cur = next
	}
	return nil
}

// addBinary adds an executable and every shared library it loads.
func (t *tree) addBinary(ctx context.Context, bin string) error {
	if err := t.addPath(bin); err != nil {
		return err
	}
	return t.addLibsOf(ctx, bin)
}

func (t *tree) addLibsOf(ctx context.Context, files ...string) error {
	seen := map[string]bool{}
	for _, f := range files {
		libs, err := sharedLibs(ctx, f)
		if err != nil {
			return err
		}
		for _, l := range libs {
			if seen[l] {
				continue
			}
			seen[l] = true
			if err := t.addPath(l); err != nil {
				return err
			}
		}
	}
	return nil
}

// sharedLibs lists the libraries ldd resolves for an ELF file (none for a
// static one).
func sharedLibs(ctx context.Context, file string) ([]string, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, "ldd", file).CombinedOutput()
	text := string(out)
	if err != nil {
		if strings.Contains(text, "not a dynamic executable") || strings.Contains(text, "statically linked") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w: %s", file, err, strings.TrimSpace(text))
	}
	var libs []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("ldd %s: %s", file, line)
		}
		var p string
		if _, after, ok := strings.Cut(line, "=>"); ok {
			p = strings.TrimSpace(after)
		} else {
			p = line
		}
		if i := strings.Index(p, " ("); i >= 0 {
			p = p[:i]
		}
		if strings.HasPrefix(p, "/") {
			libs = append(libs, p)
		}
	}
	return libs, nil
}

// writeArchive writes the OCI archive of one image and returns its entry.
func writeArchive(out, ref, kind string, fs *tree, env []string) (Entry, error) {
	tmpDir, err := os.MkdirTemp(filepath.Dir(out), ".build-")
	if err != nil {
		return Entry{}, err
	}
	defer os.RemoveAll(tmpDir)

	layerPath := filepath.Join(tmpDir, "layer.tar")
	layerDigest, layerSize, err := fs.writeLayer(layerPath)
	if err != nil {
		return Entry{}, err
	}
	config, _ := json.Marshal(map[string]any{
		"architecture": goArch(),
		"os":           "linux",
		"created":      epoch.Format(time.RFC3339),
		"config": map[string]any{
			"Entrypoint":   []string{ProxyPath, "proxy", "--listen", fmt.Sprintf("0.0.0.0:%d", ProxyPort)},
			"Env":          env,
			"WorkingDir":   "/tmp",
			"User":         fmt.Sprintf("%d:%d", ActionUID, ActionGID),
			"ExposedPorts": map[string]any{fmt.Sprintf("%d/tcp", ProxyPort): map[string]any{}},
			"Labels":       map[string]string{"org.brisk.kind": kind},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	configDigest := digestOf(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": layerSize}},
	})
	manifestDigest := digestOf(manifest)
	tag := ref[strings.LastIndex(ref, ":")+1:]
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifestDigest, "size": len(manifest),
			"annotations": map[string]string{"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag},
		}},
	})

	tmpOut := filepath.Join(tmpDir, "image.tar")
	f, err := os.Create(tmpOut)
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	writeBytes := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
			return Entry{}, fmt.Errorf("write archive: %w", err)
		}
	}
	err = errors.Join(
		writeBytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)),
		writeBytes("index.json", index),
		writeBytes("blobs/sha256/"+hexOf(configDigest), config),
		writeBytes("blobs/sha256/"+hexOf(manifestDigest), manifest),
	)
	if err != nil {
		return Entry{}, fmt.Errorf("write archive: %w", err)
	}
	lf, err := os.Open(layerPath)
	if err != nil {
		return Entry{}, err
	}
	defer lf.Close()
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + hexOf(layerDigest), Mode: 0o644, Size: layerSize, ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return Entry{}, fmt.Errorf("write archive: %w", err)
	}
	if _, err := io.Copy(tw, lf); err != nil {
		return Entry{}, fmt.Errorf("write archive: %w", err)
	}
	if err := tw.Close(); err != nil {
		return Entry{}, fmt.Errorf("write archive: %w", err)
	}
	if err := f.Close(); err != nil {
		return Entry{}, fmt.Errorf("write archive: %w", err)
	}
	st, err := os.Stat(tmpOut)
	if err != nil {
		return Entry{}, err
	}
	if err := os.Rename(tmpOut, out); err != nil {
		return Entry{}, fmt.Errorf("write archive: %w", err)
	}
	return Entry{Ref: ref, Kind: kind, Digest: manifestDigest, Size: st.Size()}, nil
}

// writeLayer writes the tree as an uncompressed tar and returns its digest.
func (t *tree) writeLayer(path string) (string, int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	tw := tar.NewWriter(cw)
	paths := make([]string, 0, len(t.entries))
	for p := range t.entries {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents sort before their children
	for _, p := range paths {
		e := t.entries[p]
		hdr := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: e.mode, ModTime: epoch, Typeflag: e.typ, Format: tar.FormatPAX}
		switch e.typ {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeSymlink:
			hdr.Linkname = e.target
			hdr.Mode = 0o777
		case tar.TypeReg:
			hdr.Size = e.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", 0, fmt.Errorf("write layer: %s: %w", p, err)
		}
		if e.typ != tar.TypeReg {
			continue
		}
		if e.src == "" {
			if _, err := tw.Write(e.data); err != nil {
				return "", 0, fmt.Errorf("write layer: %s: %w", p, err)
			}
			continue
		}
		if err := copyFile(tw, e.src, e.size); err != nil {
			return "", 0, fmt.Errorf("write layer: %s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", 0, fmt.Errorf("write layer: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("write layer: %w", err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

func copyFile(w io.Writer, src string, size int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s changed size while being copied", src)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func hexOf(digest string) string { return strings.TrimPrefix(digest, "sha256:") }

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// goArch is the OCI architecture name of the build machine.
func goArch() string { return runtime.GOARCH }
