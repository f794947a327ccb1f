package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/driver"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DriverName is the name under which the driver is registered with kivik.
const DriverName = "brisk-embedded"

// DefaultLockTimeout is how long NewClient waits for the file lock held by
// another client (in this process or another) before failing.
const DefaultLockTimeout = 2 * time.Second

// formatVersion is the on-disk layout version, stored in the meta bucket.
const formatVersion = "1"

var (
	bucketDBs                          = []byte("dbs")
	bucketMeta                         = []byte("meta")
	keyFormat                          = []byte("format")
	validDBName                        = regexp.MustCompile(`^[a-z][a-z0-9_$()+/-]*$`)
	_              driver.Driver       = embeddedDriver{}
	_              driver.Client       = (*client)(nil)
	_              driver.ClientCloser = (*client)(nil)
	versionPayload                     = json.RawMessage(`{"couchdb":"Welcome","vendor":{"name":"brisk-embedded"},"version":"1.0.0"}`)
)

func init() {
	kivik.Register(DriverName, embeddedDriver{})
}

type clientConfig struct {
	lockTimeout time.Duration
	noSync      bool
}

type noSyncOption struct{}

// Apply implements kivik.Option.
func (noSyncOption) Apply(target any) {
	if c, ok := target.(*clientConfig); ok {
		c.noSync = true
	}
}

func (noSyncOption) String() string { return "[brisk-embedded no sync]" }

// OptionNoSync skips fsync on commit: much faster writes, but commits of the
// last moments are lost (and the file may need recovery) if the machine, not
// just the process, crashes. Meant for tests and throwaway deployments.
func OptionNoSync() kivik.Option { return noSyncOption{} }

type lockTimeoutOption time.Duration

// Apply implements kivik.Option.
func (o lockTimeoutOption) Apply(target any) {
	if c, ok := target.(*clientConfig); ok {
		c.lockTimeout = time.Duration(o)
	}
}

func (o lockTimeoutOption) String() string {
	return fmt.Sprintf("[brisk-embedded lock timeout=%s]", time.Duration(o))
}

// OptionLockTimeout sets how long kivik.New waits for another client's lock
// on the file (default DefaultLockTimeout). Zero or negative means the
// default; there is no way to wait forever.
func OptionLockTimeout(d time.Duration) kivik.Option { return lockTimeoutOption(d) }

type embeddedDriver struct{}

// NewClient opens (creating if needed) the bbolt file named by dsn.
func (embeddedDriver) NewClient(dsn string, options driver.Options) (driver.Client, error) {
	if dsn == "" {
		return nil, errBadRequest("the DSN must be the path of the database file")
	}
	cfg := clientConfig{lockTimeout: DefaultLockTimeout}
	if options != nil {
		options.Apply(&cfg)
	}
	if cfg.lockTimeout <= 0 {
		cfg.lockTimeout = DefaultLockTimeout
	}
	bdb, err := bolt.Open(dsn, 0o600, &bolt.Options{
		Timeout:        cfg.lockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, &statusError{
			status: http.StatusServiceUnavailable, name: "file_locked",
			reason: fmt.Sprintf("%s is locked by another client or process (waited %s)", dsn, cfg.lockTimeout),
			err:    err,
		}
	}
	if err != nil {
		return nil, errInternal("open "+dsn, err)
	}
	bdb.NoSync = cfg.noSync
	err = bdb.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketDBs); err != nil {
			return fmt.Errorf("create dbs bucket: %w", err)
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("create meta bucket: %w", err)
		}
		switch got := meta.Get(keyFormat); {
		case got == nil:
			return meta.Put(keyFormat, []byte(formatVersion))
		case string(got) != formatVersion:
			return fmt.Errorf("unsupported file format %q (want %q)", got, formatVersion)
		}
		return nil
	})
	if err != nil {
		_ = bdb.Close()
		return nil, errInternal("initialise "+dsn, err)
	}
	return &client{bolt: bdb}, nil
}

// client is one open bbolt file. It is safe for concurrent use: bbolt
// serialises writers and gives readers consistent snapshots.
type client struct {
	bolt *bolt.DB
}

func (c *client) Version(context.Context) (*driver.Version, error) {
	return &driver.Version{
		Version:     "1.0.0",
		Vendor:      DriverName,
		RawResponse: versionPayload,
	}, nil
}

func (c *client) AllDBs(ctx context.Context, _ driver.Options) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("all dbs: %w", err)
	}
	names := []string{}
	err := c.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDBs).ForEachBucket(func(k []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, errInternal("all dbs", err)
	}
	return names, nil
}

func (c *client) DBExists(ctx context.Context, name string, _ driver.Options) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("db exists %q: %w", name, err)
	}
	var exists bool
	err := c.bolt.View(func(tx *bolt.Tx) error {
		exists = tx.Bucket(bucketDBs).Bucket([]byte(name)) != nil
		return nil
	})
	if err != nil {
		return false, errInternal("db exists "+name, err)
	}
	return exists, nil
}

func (c *client) CreateDB(ctx context.Context, name string, _ driver.Options) error {
	if err := checkDBName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create db %q: %w", name, err)
	}
	err := c.bolt.Update(func(tx *bolt.Tx) error {
		root, err := tx.Bucket(bucketDBs).CreateBucket([]byte(name))
		if errors.Is(err, bolterrors.ErrBucketExists) {
			return newError(http.StatusPreconditionFailed, "file_exists",
				"The database could not be created, the file already exists.")
		}
		if err != nil {
			return err
		}
		for _, sub := range [][]byte{bucketDocs, bucketTombs, bucketDBMeta, bucketViews} {
			if _, err := root.CreateBucket(sub); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return errInternal("create db "+name, err)
	}
	return nil
}

func (c *client) DestroyDB(ctx context.Context, name string, _ driver.Options) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("destroy db %q: %w", name, err)
	}
	err := c.bolt.Update(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketDBs).DeleteBucket([]byte(name))
		if errors.Is(err, bolterrors.ErrBucketNotFound) {
			return errNoDB(name)
		}
		return err
	})
	if err != nil {
		return errInternal("destroy db "+name, err)
	}
	return nil
}

// DB returns a handle; like CouchDB, it does not check that the db exists
// (operations on a missing db fail with 404).
func (c *client) DB(name string, _ driver.Options) (driver.DB, error) {
	if err := checkDBName(name); err != nil {
		return nil, err
	}
	return &db{client: c, name: name}, nil
}

// Close closes the file and releases its lock.
func (c *client) Close() error {
	if err := c.bolt.Close(); err != nil {
		return errInternal("close", err)
	}
	return nil
}

func checkDBName(name string) error {
	if !validDBName.MatchString(name) {
		return newError(http.StatusBadRequest, "illegal_database_name",
			fmt.Sprintf("Name: %q. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.", name))
	}
	return nil
}
