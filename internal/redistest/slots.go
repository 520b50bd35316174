package redistest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Slot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of the key, or
// of its hash tag (the part between the first { and the next } when that part
// is not empty), modulo 16384.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// OneSlot is a go-redis hook that checks what Redis Cluster demands of an
// atomic step: every script (EVAL, EVALSHA and their _RO forms, FCALL) names
// keys of one hash slot, and every MULTI ... EXEC block touches keys of one
// slot. It sees the commands on any client, a single server's too, so a test
// suite run on one server proves the same as on a cluster; on a cluster the
// server would refuse them (CROSSSLOT) as well.
//
// It also notes where each checked call came from (Sites), so that a test
// can show that every script and transaction call site was exercised.
type OneSlot struct {
	mu           sync.Mutex
	scripts, txs int
	problems     []string
	sites        map[string]int
}

// Sites returns, for each place that ran a checked script or transaction
// (file:line of the first caller outside go-redis and this package), how many
// times it did.
func (h *OneSlot) Sites() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.sites)
}

// Counts returns how many scripts and transactions the hook has checked.
func (h *OneSlot) Counts() (scripts, transactions int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.scripts, h.txs
}

// Problems returns one line per script call or transaction whose keys span
// more than one slot.
func (h *OneSlot) Problems() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.problems...)
}

// DialHook implements redis.Hook.
func (h *OneSlot) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

// ProcessHook implements redis.Hook.
func (h *OneSlot) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.script(cmd)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook: a transaction reaches it as
// MULTI, the commands, EXEC.
func (h *OneSlot) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.script(c)
		}
		if len(cmds) > 0 && cmds[0].Name() == "multi" {
			var keys []string
			var names []string
			for _, c := range cmds[1 : len(cmds)-1] {
				keys = append(keys, commandKeys(c)...)
				names = append(names, c.Name())
			}
			h.check(&h.txs, "MULTI "+strings.Join(names, " "), keys)
		}
		return next(ctx, cmds)
	}
}

func (h *OneSlot) script(cmd redis.Cmder) {
	if keys, ok := scriptKeys(cmd); ok {
		h.check(&h.scripts, strings.ToUpper(cmd.Name()), keys)
	}
}

// scriptKeys are the keys a script or function call names (numkeys, then
// the keys, after the script or its SHA); ok is false for other commands.
func scriptKeys(cmd redis.Cmder) (keys []string, ok bool) {
	switch cmd.Name() {
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
	default:
		return nil, false
	}
	args := cmd.Args()
	n, _ := strconv.Atoi(fmt.Sprint(args[2]))
	keys = make([]string, 0, n)
	for _, k := range args[3 : 3+n] {
		keys = append(keys, fmt.Sprint(k))
	}
	return keys, true
}

func (h *OneSlot) check(count *int, what string, keys []string) {
	site := caller()
	h.mu.Lock()
	defer h.mu.Unlock()
	*count++
	if h.sites == nil {
		h.sites = map[string]int{}
	}
	h.sites[site]++
	for _, k := range keys[min(1, len(keys)):] {
		if Slot(k) != Slot(keys[0]) {
			h.problems = append(h.problems, fmt.Sprintf("%s with keys in more than one slot: %q", what, keys))
			return
		}
	}
}

// caller is the file:line of the first frame outside go-redis and this
// package.
func caller() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		ours := strings.Contains(f.Function, "internal/redistest.") && !strings.HasSuffix(f.File, "_test.go")
		if !strings.HasPrefix(f.Function, "github.com/redis/go-redis/") && !ours {
			return f.File + ":" + strconv.Itoa(f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

// commandKeys are the keys of a command inside a transaction: every argument
// of the multi-key commands, the argument after the subcommand of XGROUP,
// XINFO and OBJECT, else the first argument (every other command aftermath
// queues in a transaction has its key there).
func commandKeys(c redis.Cmder) []string {
	if keys, ok := scriptKeys(c); ok {
		return keys
	}
	args := c.Args()
	if len(args) < 2 {
		return nil
	}
	var out []string
	switch c.Name() {
	case "del", "unlink", "exists", "touch", "mget", "watch":
		for _, a := range args[1:] {
			out = append(out, fmt.Sprint(a))
		}
	case "xgroup", "xinfo", "object":
		if len(args) > 2 {
			out = append(out, fmt.Sprint(args[2]))
		}
	case "mset", "msetnx":
		for i := 1; i < len(args); i += 2 {
			out = append(out, fmt.Sprint(args[i]))
		}
	default:
		out = append(out, fmt.Sprint(args[1]))
	}
	return out
}
