package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture's user-space ABI, whatever the
// kernel's internal HZ.
const clockTicks = 100

// readRSS returns the resident memory of process pid, from VmRSS in
// /proc/PID/status.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the memory of process %d: %w", pid, err)
	}
	return parseRSS(b)
}

func parseRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected VmRSS line %q", bytes.TrimSpace(line))
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS line (a kernel thread or a zombie?)")
}

// readCPU returns the CPU time process pid has used, user plus system,
// from /proc/PID/stat.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the CPU time of process %d: %w", pid, err)
	}
	return parseCPU(b)
}

// parseCPU reads utime and stime (fields 14 and 15). The command name,
// field 2, is in parentheses and may itself hold spaces and parentheses,
// so the fields are counted from the last ')'.
func parseCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat line %.60q", stat)
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat line %.60q", stat)
	}
	utime, err1 := strconv.ParseInt(string(f[14-3]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[15-3]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected utime/stime in /proc stat line %.60q", stat)
	}
	return time.Duration(utime+stime) * (time.Second / clockTicks), nil
}

// readBusy returns the CPU time the whole machine has spent busy (all
// CPUs; user, nice, system, irq, softirq, steal), from /proc/stat.
func readBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("reading the machine's CPU time: %w", err)
	}
	return parseBusy(b)
}

func parseBusy(stat []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat line %.60q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		n, err := strconv.ParseInt(string(f[i]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/stat line %.60q", line)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / clockTicks), nil
}

// procSample is one reading of a process, for before/after comparisons.
type procSample struct {
	RSS int64
	CPU time.Duration
}

// sampleProc reads pid's memory and CPU time; pid 0 reads nothing.
func sampleProc(pid int) (procSample, error) {
	if pid == 0 {
		return procSample{}, nil
	}
	rss, err := readRSS(pid)
	if err != nil {
		return procSample{}, err
	}
	cpu, err := readCPU(pid)
	if err != nil {
		return procSample{}, err
	}
	return procSample{RSS: rss, CPU: cpu}, nil
}
