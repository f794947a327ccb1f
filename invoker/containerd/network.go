package containerd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// NetworkConfig configures the containers' network.
type NetworkConfig struct {
	// PluginDir holds the CNI plugins (default /usr/lib/cni, where Debian's
	// containernetworking-plugins installs them).
	PluginDir string
	// Bridge is the Linux bridge the containers join (default "brisk0").
	Bridge string
	// Subnet is the containers' IPv4 range (default "10.209.0.0/24").
	Subnet string
	// DenyOutbound drops traffic from containers to anything but the host's
	// replies; by default actions may reach the outside (masqueraded).
	DenyOutbound bool
	// StateDir keeps the addresses handed out, shared by every factory on
	// the same bridge (default /run/brisk/cni; the bridge's name is added).
	StateDir string
	// Prepared is how many network namespaces are kept attached to the
	// bridge ahead of time, off the cold-start path (default 2; negative:
	// none, attach each container when it is created).
	Prepared int
	// RemoveOnClose removes the bridge, its firewall rules and its address
	// records when the factory closes with no container left. Leave it off
	// when several invokers share the bridge.
	RemoveOnClose bool
}

func (n *NetworkConfig) defaults() {
	if n.PluginDir == "" {
		n.PluginDir = "/usr/lib/cni"
	}
	if n.Bridge == "" {
		n.Bridge = "brisk0"
	}
	if n.Subnet == "" {
		n.Subnet = "10.209.0.0/24"
	}
	if n.StateDir == "" {
		n.StateDir = "/run/brisk/cni"
	}
}

// cmdTimeout bounds every external command (CNI plugin, iptables).
const cmdTimeout = 20 * time.Second

// network attaches containers to the bridge through the CNI bridge and
// loopback plugins, and owns the host firewall rules for the bridge.
type network struct {
	cfg     NetworkConfig
	ipamDir string
	conf    []byte // the bridge plugin's network configuration
	loConf  []byte
}

func newNetwork(cfg NetworkConfig) (*network, error) {
	cfg.defaults()
	_, ipnet, err := net.ParseCIDR(cfg.Subnet)
	if err != nil || ipnet.IP.To4() == nil {
		return nil, fmt.Errorf("network: subnet %q is not an IPv4 CIDR", cfg.Subnet)
	}
	if len(cfg.Bridge) > 15 {
		return nil, fmt.Errorf("network: bridge name %q is longer than 15 characters", cfg.Bridge)
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cfg.PluginDir, p)); err != nil {
			return nil, fmt.Errorf("network: CNI plugin %s: %w (install containernetworking-plugins: scripts/containerd.sh install)", p, err)
		}
	}
	n := &network{cfg: cfg, ipamDir: filepath.Join(cfg.StateDir, cfg.Bridge)}
	n.conf, _ = json.Marshal(map[string]any{
		"cniVersion": "1.0.0", "name": "brisk-" + cfg.Bridge, "type": "bridge",
		"bridge": cfg.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": false,
		"ipam": map[string]any{
			"type": "host-local", "dataDir": n.ipamDir,
			"ranges": [][]map[string]string{{{"subnet": cfg.Subnet}}},
			"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
		},
	})
	n.loConf, _ = json.Marshal(map[string]any{"cniVersion": "1.0.0", "name": "lo", "type": "loopback"})
	return n, nil
}

// setup installs the firewall rules of the bridge (idempotently) and turns
// on forwarding when containers may reach the outside.
func (n *network) setup(ctx context.Context) error {
	if !n.cfg.DenyOutbound {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			return fmt.Errorf("network: enable IPv4 forwarding: %w", err)
		}
	}
	for _, r := range n.rules() {
		if err := ensureRule(ctx, r); err != nil {
			return err
		}
	}
	return os.MkdirAll(n.ipamDir, 0o700)
}

// rules are the firewall rules of the bridge (table and chain first).
func (n *network) rules() [][]string {
	br, subnet := n.cfg.Bridge, n.cfg.Subnet
	rules := [][]string{
		// Containers never open connections to the host: not to the
		// platform's ports, not to anything else listening there.
		{"filter", "INPUT", "-i", br, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"},
	}
	if n.cfg.DenyOutbound {
		rules = append(rules, []string{"filter", "FORWARD", "-i", br, "-j", "DROP"})
	} else {
		rules = append(rules,
			[]string{"filter", "FORWARD", "-i", br, "!", "-o", br, "-j", "ACCEPT"},
			[]string{"filter", "FORWARD", "-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
			[]string{"nat", "POSTROUTING", "-s", subnet, "!", "-o", br, "-j", "MASQUERADE"},
		)
	}
	return rules
}

func ruleExists(ctx context.Context, r []string) bool {
	check := append([]string{"-w", "5", "-t", r[0], "-C", r[1]}, r[2:]...)
	_, err := run(ctx, nil, nil, "iptables", check...)
	return err == nil
}

func ensureRule(ctx context.Context, r []string) error {
	if ruleExists(ctx, r) {
		return nil
	}
	add := append([]string{"-w", "5", "-t", r[0], "-I", r[1], "1"}, r[2:]...)
	if out, err := run(ctx, nil, nil, "iptables", add...); err != nil {
		return fmt.Errorf("network: iptables %s: %w: %s", strings.Join(add, " "), err, out)
	}
	return nil
}

// RemoveNetwork removes a bridge, its firewall rules and its address
// records. Only call it when no container uses the bridge.
func RemoveNetwork(ctx context.Context, cfg NetworkConfig) error {
	n, err := newNetwork(cfg)
	if err != nil {
		return err
	}
	return n.teardown(ctx)
}

// teardown removes the bridge's firewall rules (whoever added them), the
// bridge and the address records.
func (n *network) teardown(ctx context.Context) error {
	var errs []error
	for _, r := range n.rules() {
		if !ruleExists(ctx, r) {
			continue
		}
		del := append([]string{"-w", "5", "-t", r[0], "-D", r[1]}, r[2:]...)
		if out, err := run(ctx, nil, nil, "iptables", del...); err != nil {
			errs = append(errs, fmt.Errorf("iptables %s: %w: %s", strings.Join(del, " "), err, out))
		}
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", n.cfg.Bridge)); err == nil {
		if out, err := run(ctx, nil, nil, "ip", "link", "del", n.cfg.Bridge); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w: %s", n.cfg.Bridge, err, out))
		}
	}
	if err := os.RemoveAll(n.ipamDir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("network teardown: %w", err)
	}
	return nil
}

// cniResult is the part of a CNI ADD result the factory uses.
type cniResult struct {
	Interfaces []struct {
		Name    string `json:"name"`
		Sandbox string `json:"sandbox"`
	} `json:"interfaces"`
	IPs []struct {
		Address string `json:"address"`
	} `json:"ips"`
}

// add attaches the network namespace of a created task and returns the
// container's address.
func (n *network) add(ctx context.Context, id, netns string) (net.IP, error) {
	var (
		wg    sync.WaitGroup
		loErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, loErr = n.plugin(ctx, "loopback", "ADD", id, netns, "lo", n.loConf)
	}()
	out, err := n.plugin(ctx, "bridge", "ADD", id, netns, "eth0", n.conf)
	wg.Wait()
	if err == nil {
		err = loErr
	}
	if err != nil {
		return nil, err
	}
	var res cniResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("network: decode CNI result: %w", err)
	}
	if len(res.IPs) == 0 {
		return nil, errors.New("network: the CNI bridge plugin assigned no address")
	}
	ip, _, err := net.ParseCIDR(res.IPs[0].Address)
	if err != nil {
		return nil, fmt.Errorf("network: CNI address %q: %w", res.IPs[0].Address, err)
	}
	// Isolate the container's bridge port: it can talk to the host (the
	// invoker) and through it to the outside, never to another container.
	for _, itf := range res.Interfaces {
		if itf.Sandbox != "" || itf.Name == n.cfg.Bridge {
			continue
		}
		p := filepath.Join("/sys/class/net", itf.Name, "brport", "isolated")
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
			return ip, fmt.Errorf("network: isolate bridge port %s: %w", itf.Name, err)
		}
	}
	return ip, nil
}

// del detaches a namespace (netns may be empty when it is gone) and
// releases its address.
func (n *network) del(ctx context.Context, id, netns string) error {
	_, err := n.plugin(ctx, "bridge", "DEL", id, netns, "eth0", n.conf)
	return err
}

// plugin runs one CNI plugin command.
func (n *network) plugin(ctx context.Context, name, command, id, netns, ifname string, conf []byte) ([]byte, error) {
	env := []string{
		"CNI_COMMAND=" + command, "CNI_CONTAINERID=" + id, "CNI_NETNS=" + netns,
		"CNI_IFNAME=" + ifname, "CNI_PATH=" + n.cfg.PluginDir, "PATH=" + os.Getenv("PATH"),
	}
	out, err := run(ctx, env, conf, filepath.Join(n.cfg.PluginDir, name))
	if err != nil {
		return nil, fmt.Errorf("network: CNI %s %s for %s: %w: %s", name, command, id, err, bytes.TrimSpace(out))
	}
	return out, nil
}

// run executes a command with a bounded time and returns its stdout (or
// combined output when it fails).
func run(ctx context.Context, env []string, stdin []byte, name string, args ...string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if background(ctx) {
		// Preparing ahead must not slow down the containers starting now.
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, backgroundNice)
	}
	if err := cmd.Wait(); err != nil {
		return append(stdout.Bytes(), stderr.Bytes()...), err
	}
	return stdout.Bytes(), nil
}

// backgroundNice is the nice value of the commands that prepare network
// namespaces ahead of time.
const backgroundNice = 19

type backgroundKey struct{}

// withBackground marks ctx as preparing ahead: the commands run under it
// get the lowest CPU priority.
func withBackground(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

func background(ctx context.Context) bool {
	b, _ := ctx.Value(backgroundKey{}).(bool)
	return b
}
