package e2ekit

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mem is a process's memory as Linux reports it in /proc/<pid>/status.
type Mem struct {
	RSS  int64 // VmRSS: resident now, bytes
	Peak int64 // VmHWM: the highest resident size so far, bytes
}

// Memory reads the resident memory of process pid (Linux only).
func Memory(pid int) (Mem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	defer f.Close()
	var m Mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		fields := strings.Fields(rest) // "12345 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return Mem{}, fmt.Errorf("process %d: unexpected %s line %q", pid, name, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return Mem{}, fmt.Errorf("process %d: %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.Peak = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return Mem{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	if m.RSS == 0 {
		return Mem{}, fmt.Errorf("process %d: no VmRSS in /proc/%d/status", pid, pid)
	}
	return m, nil
}

// Memory reads replica i's memory; it fails while the replica is down.
func (rs *Replicas) Memory(i int) (Mem, error) {
	pid := rs.PID(i)
	if pid == 0 {
		return Mem{}, fmt.Errorf("replica %d is down", i)
	}
	return Memory(pid)
}
