package tune

import (
	"os"
	"strconv"
	"strings"
)

// DefaultMemoryShare is the part of the machine's memory that the Go
// runtime's soft limit (GOMEMLIMIT) is set to when the configuration sets
// no memory_limit: half, because the other half is what the limit does not
// count and a server of guests needs beside its heap (guests' linear
// memories and snapshot images, compiled machine code, the page cache of
// the modules and volumes).
const DefaultMemoryShare = 2

// DefaultMemoryLimit is the soft memory limit when none is configured:
// the machine's memory divided by DefaultMemoryShare, in whole MiB; 0
// when the machine's memory is unknown.
func DefaultMemoryLimit() int64 {
	return MachineMemory() / DefaultMemoryShare &^ (1<<20 - 1)
}

// MachineMemory returns the memory this process may use: the smaller of
// the physical memory and the memory limit of its cgroup (v2 memory.max or
// v1 memory.limit_in_bytes), or 0 when neither can be read.
func MachineMemory() int64 {
	mem := physicalMemory()
	if c := cgroupMemory(); c > 0 && (mem == 0 || c < mem) {
		mem = c
	}
	return mem
}

// cgroupMemory reads the memory limit of the process's cgroup; 0 is none.
// A container usually sees its own cgroup at the root of /sys/fs/cgroup;
// elsewhere it is at the path /proc/self/cgroup names.
func cgroupMemory() int64 {
	var paths []string
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			// v2: "0::/path"; v1: "N:memory:/path" (or "N:cpu,memory:/path").
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 || strings.Contains(parts[2], "..") {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "":
				paths = append(paths, "/sys/fs/cgroup"+parts[2]+"/memory.max")
			case contains(strings.Split(parts[1], ","), "memory"):
				paths = append(paths, "/sys/fs/cgroup/memory"+parts[2]+"/memory.limit_in_bytes")
			}
		}
	}
	paths = append(paths, "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
	var limit int64
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// "max" (v2) or a page-rounded MaxInt64 (v1) is no limit.
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<62 {
			continue
		}
		if limit == 0 || n < limit {
			limit = n
		}
	}
	return limit
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
