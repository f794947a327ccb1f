package proxy

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxArchiveEntries bounds the number of files in an action archive.
const maxArchiveEntries = 100_000

// errTooLarge reports that an archive grew past the extraction limit.
var errTooLarge = errors.New("archive too large")

// decodeBase64 decodes the base64 text of a binary action, ignoring any
// whitespace (line breaks) in it.
func decodeBase64(code string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, code)
	data, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("decode base64 action code: %w", err)
	}
	return data, nil
}

func isZip(data []byte) bool {
	return bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06"))
}

// extractZip writes the zip archive in data below dest. Entries that would
// land outside dest are rejected, symbolic links are skipped, and the total
// number of bytes written is capped at maxBytes (counted while copying, so a
// lying header does not help a zip bomb).
func extractZip(data []byte, dest string, maxBytes int64) error {
	if !isZip(data) {
		return errors.New("the action code is not a zip archive")
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("read zip archive: %w", err)
	}
	if len(zr.File) > maxArchiveEntries {
		return fmt.Errorf("zip archive has %d entries, more than the limit of %d", len(zr.File), maxArchiveEntries)
	}
	remaining := maxBytes
	for _, f := range zr.File {
		name := filepath.FromSlash(f.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("zip entry %q points outside the action directory", f.Name)
		}
		target := filepath.Join(dest, name)
		mode := f.Mode()
		switch {
		case mode&os.ModeSymlink != 0:
			continue
		case mode.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("create directory for zip entry %q: %w", f.Name, err)
			}
			continue
		case !mode.IsRegular():
			continue
		}
		n, err := extractFile(f, target, remaining)
		if errors.Is(err, errTooLarge) {
			return fmt.Errorf("zip archive expands to more than %d bytes", maxBytes)
		}
		if err != nil {
			return err
		}
		remaining -= n
	}
	return nil
}

// extractFile copies one regular zip entry to target, writing at most limit
// bytes, and returns how many it wrote.
func extractFile(f *zip.File, target string, limit int64) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return 0, fmt.Errorf("create directory for zip entry %q: %w", f.Name, err)
	}
	src, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("open zip entry %q: %w", f.Name, err)
	}
	defer src.Close()
	perm := os.FileMode(0o644)
	if f.Mode()&0o111 != 0 {
		perm = 0o755
	}
	dst, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return 0, fmt.Errorf("create file for zip entry %q: %w", f.Name, err)
	}
	n, err := io.Copy(dst, io.LimitReader(src, limit+1))
	if cerr := dst.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("extract zip entry %q: %w", f.Name, err)
	}
	if n > limit {
		return n, errTooLarge
	}
	return n, nil
}
