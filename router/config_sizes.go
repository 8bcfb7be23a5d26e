package router

import (
	"cmp"
	"fmt"
)

// sizeProblems says what is wrong with max_module_size, cache_max_size,
// memory_limit and reuse_memory, defaults applied to the one not set.
func (s Server) sizeProblems() []string {
	var p []string
	mod, cache := s.MaxModuleSize, s.CacheMaxSize
	if mod != 0 && mod < 64<<10 {
		p = append(p, fmt.Sprintf("max_module_size %d: want at least 64KiB (the default is 128MiB)", mod))
	}
	if cache != 0 && cache < 64<<20 {
		p = append(p, fmt.Sprintf("cache_max_size %d: want at least 64MiB (the default is 2GiB)", cache))
	}
	if l := s.MemoryLimit; l != 0 && l < 64<<20 {
		p = append(p, fmt.Sprintf("memory_limit %d: want at least 64MiB (the default is half the machine's memory)", l))
	}
	if m := s.ReuseMemory; m != 0 && m < 1<<20 {
		p = append(p, fmt.Sprintf("reuse_memory %d: want at least 1MiB (the default is 512MiB; reuse = false keeps no instance)", m))
	}
	if mod, cache = cmp.Or(mod, DefaultServer.MaxModuleSize), cmp.Or(cache, DefaultServer.CacheMaxSize); len(p) == 0 && cache < 2*mod {
		p = append(p, fmt.Sprintf("cache_max_size %d must be at least twice max_module_size %d: a module's build and its compiled code are both kept", cache, mod))
	}
	return p
}
