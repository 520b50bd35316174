package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// sleepUntil sleeps with the kernel's high-resolution timer. The Go runtime's
// own timers wake an otherwise idle process with millisecond granularity
// (epoll_wait's timeout), which at 1,000 requests/s would put up to a whole
// interval of the generator's lateness into every latency figure. The blocked
// thread gives its P back, so the rest of the generator keeps running.
func sleepUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(int64(d))
		_ = syscall.Nanosleep(&ts, nil) // EINTR: sleep the rest
	}
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times.
var clockTicks = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}()

// procCPU is the user+system CPU time a process (all its threads) has used.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s) // f[0] is field 3 (state): utime is field 14, stime 15
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return time.Duration((ut + st) / clockTicks * float64(time.Second))
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the Redis server's user+system CPU time (all its clients, not
// only this benchmark's).
func redisCPU(ctx context.Context, rdb *redis.Client) time.Duration {
	info, err := rdb.InfoMap(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, k := range []string{"used_cpu_sys", "used_cpu_user"} {
		v, _ := strconv.ParseFloat(info["CPU"][k], 64)
		total += v
	}
	return time.Duration(total * float64(time.Second))
}

// machineCPU is the whole machine's busy CPU time (every CPU, every
// process, kernel included) and the time the hypervisor stole, from /proc/stat.
func machineCPU() (busy, irq, steal time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal guest guest_nice
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0
	}
	var v [8]float64
	for i := range v {
		v[i], _ = strconv.ParseFloat(f[i+1], 64)
	}
	toDur := func(ticks float64) time.Duration { return time.Duration(ticks / clockTicks * float64(time.Second)) }
	// guest time is already counted in user. Interrupt time (loopback
	// networking runs largely in softirq) is not in any process's figures.
	return toDur(v[0] + v[1] + v[2]), toDur(v[5] + v[6]), toDur(v[7])
}

// cpuUse is what a measured phase cost each process, and what the rest of
// the machine did meanwhile.
type cpuUse struct {
	server, redis, generator time.Duration
	// worker is aftermath's queue worker when it runs as a process of
	// its own (0 for the baseline, and with -one-process).
	worker              time.Duration
	machine, irq, steal time.Duration
}

// others is CPU time used by processes other than the three measured
// (interrupt time excluded).
func (u cpuUse) others() time.Duration {
	return max(0, u.machine-u.server-u.worker-u.redis-u.generator)
}

type cpuMeter struct {
	ctx       context.Context
	rdb       *redis.Client
	pid       int
	workerPid int // 0: none
	at        cpuUse
}

func startCPU(ctx context.Context, rdb *redis.Client, pid, workerPid int) *cpuMeter {
	m := &cpuMeter{ctx: ctx, rdb: rdb, pid: pid, workerPid: workerPid}
	m.at = m.read()
	return m
}

func (m *cpuMeter) read() cpuUse {
	u := cpuUse{server: procCPU(m.pid), redis: redisCPU(m.ctx, m.rdb), generator: selfCPU()}
	if m.workerPid != 0 {
		u.worker = procCPU(m.workerPid)
	}
	u.machine, u.irq, u.steal = machineCPU()
	return u
}

func (m *cpuMeter) stop() cpuUse {
	now := m.read()
	return cpuUse{
		server:    now.server - m.at.server,
		worker:    now.worker - m.at.worker,
		redis:     now.redis - m.at.redis,
		generator: now.generator - m.at.generator,
		machine:   now.machine - m.at.machine,
		irq:       now.irq - m.at.irq,
		steal:     now.steal - m.at.steal,
	}
}

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
