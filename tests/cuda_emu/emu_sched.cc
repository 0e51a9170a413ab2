/* The fiber scheduler behind run_grid (emu_sched.h): each thread of a block is a fiber on its own
 * mmap'd stack, switched by a hand-written x86-64 context switch (no syscall per switch, unlike
 * swapcontext), annotated for AddressSanitizer. Blocks run one after another on the calling thread. */
#include "emu_sched.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include "cuda_emu.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CUEMU_ASAN 1
#else
#define CUEMU_ASAN 0
#endif

#if !defined(__x86_64__)
#error "tests/cuda_emu: the fiber switch (cuemu_switch) is written for x86-64 only; port it first"
#endif

/* Saves the callee-saved registers on the current stack, stores the stack pointer in *save and
 * continues on `to`, a stack saved the same way (or prepared by start_fiber). */
extern "C" void cuemu_switch(void **save, void *to);
asm(R"(
    .text
    .globl cuemu_switch
    .type cuemu_switch, @function
cuemu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cuemu_switch, .-cuemu_switch
)");

namespace cuemu {

thread_local coords current;
thread_local void *dynamic_smem_base;

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cuda_emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

namespace {

/* Generous for kernels' local arrays and libm calls; ASan's redzones make frames larger. Each stack
 * starts COLOR_SPAN-dependent bytes below its top: stacks a power of two apart would otherwise put
 * every fiber's saved registers in the same cache set, and a switch would miss every time. */
constexpr size_t COLOR_SPAN = (size_t)64 << 10;
constexpr size_t STACK_SIZE = (CUEMU_ASAN ? (size_t)512 << 10 : (size_t)128 << 10) + COLOR_SPAN;

enum fiber_state : unsigned char { RUNNABLE, AT_BARRIER, AT_WARP, EXITED };
enum warp_op : unsigned char { OP_SHFL, OP_SYNCWARP };

struct fiber {
    void *sp;
    char *stack; /* lowest usable byte; a guard page lies below */
    uint3 tid;
    fiber_state state;
    warp_op op;
    const char *file; /* where it waits */
    int line;
    unsigned int mask;
    int src;
    uint64_t value, result;
#if CUEMU_ASAN
    void *fake_stack;
#endif
};

struct block_state {
    const site *where;
    const std::function<void()> *body;
    std::vector<fiber> f;
    std::vector<int> warp_order, lane_order; /* permutations, shuffled at every barrier */
    int n;
    int running;
    void *sched_sp;
    uint64_t rng;
    std::vector<char *> stacks; /* this OS thread's, reused by every grid it runs */
#if CUEMU_ASAN
    std::vector<char *> dirty; /* per stack: below here its last thread left no frame behind */
#endif
    std::vector<char> shared;   /* dynamic shared memory */
#if CUEMU_ASAN
    void *sched_fake_stack;
    const void *sched_bottom;
    size_t sched_size;
#endif
};

thread_local block_state g;

uint64_t next_random()
{
    g.rng ^= g.rng >> 12;
    g.rng ^= g.rng << 25;
    g.rng ^= g.rng >> 27;
    return g.rng * 0x2545F4914F6CDD1Dull;
}

void shuffle(std::vector<int> &v, int n)
{
    for (int i = n - 1; i > 0; i--) {
        const int j = (int)(next_random() % (uint64_t)(i + 1));
        const int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

char *new_stack()
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = mmap(nullptr, STACK_SIZE + page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fatal("cannot map a %zu-byte fiber stack", STACK_SIZE);
    /* An overflowing thread faults on the guard page instead of writing into its neighbour. */
    mprotect(p, page, PROT_NONE);
    return (char *)p + page;
}

const char *where_text(char *buf, size_t len)
{
    snprintf(buf, len, "kernel %s (launched at %s:%d), block (%u,%u,%u)", g.where->kernel,
             g.where->file, g.where->line, current.block.x, current.block.y, current.block.z);
    return buf;
}

void switch_to_scheduler(fiber &me, bool exiting)
{
#if CUEMU_ASAN
    __sanitizer_start_switch_fiber(exiting ? nullptr : &me.fake_stack, g.sched_bottom, g.sched_size);
#else
    (void)exiting;
#endif
    cuemu_switch(&me.sp, g.sched_sp);
#if CUEMU_ASAN
    __sanitizer_finish_switch_fiber(me.fake_stack, &g.sched_bottom, &g.sched_size);
#endif
}

void fiber_main()
{
#if CUEMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &g.sched_bottom, &g.sched_size);
#endif
    fiber &me = g.f[(size_t)g.running];
    (*g.body)();
    me.state = EXITED;
#if CUEMU_ASAN
    /* Only this frame and the two calls below it never return; every deeper frame did. */
    g.dirty[(size_t)g.running] = (char *)__builtin_frame_address(0) - 4096;
#endif
    switch_to_scheduler(me, true);
    fatal("an exited thread was resumed");
}

void start_fiber(fiber &fb, int i)
{
#if CUEMU_ASAN
    /* A reused stack still carries the redzones of the frames its last thread never returned from. */
    char *&dirty = g.dirty[(size_t)i];
    if (dirty) __asan_unpoison_memory_region(dirty, (size_t)(fb.stack + STACK_SIZE - dirty));
    dirty = nullptr;
    fb.fake_stack = nullptr;
#endif
    /* The frame cuemu_switch pops: six registers, then fiber_main as the return address, above it a
     * zero return address for fiber_main itself (it never returns), the ABI's 16-byte alignment. */
    /* 17 cache lines apart: 17 is odd, so 1024 threads get 1024 distinct colors. */
    const size_t color = (size_t)i * 17 * 64 % COLOR_SPAN;
    uintptr_t top = ((uintptr_t)fb.stack + STACK_SIZE - color) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = nullptr;
    *--sp = (void *)&fiber_main;
    for (int r = 0; r < 6; r++) *--sp = nullptr;
    fb.sp = sp;
    fb.state = RUNNABLE;
}

void resume(int i)
{
    fiber &fb = g.f[(size_t)i];
    g.running = i;
    current.thread = fb.tid;
#if CUEMU_ASAN
    __sanitizer_start_switch_fiber(&g.sched_fake_stack, fb.stack, STACK_SIZE);
#endif
    cuemu_switch(&g.sched_sp, fb.sp);
#if CUEMU_ASAN
    __sanitizer_finish_switch_fiber(g.sched_fake_stack, nullptr, nullptr);
#endif
}

bool same_site(const fiber &a, const fiber &b)
{
    return a.line == b.line && (a.file == b.file || strcmp(a.file, b.file) == 0);
}

/* Completes the exchanges of warp [base, base + lanes) whose lanes have all arrived. Called when none
 * of the warp's lanes is runnable, and only lanes of the same warp can release a warp exchange: a
 * lane waiting for a lane that exited, waits at a block barrier, or waits with another mask or at
 * another exchange can never be released, and is reported. */
bool complete_warp(int base, int lanes)
{
    bool done = false;
    char buf[256];
    for (int l = 0; l < lanes; l++) {
        fiber &a = g.f[(size_t)(base + l)];
        if (a.state != AT_WARP) continue;
        const char *opname = a.op == OP_SHFL ? "__shfl_xor_sync" : "__syncwarp";
        if (!(a.mask >> l & 1u))
            fatal("%s: thread (%u,%u,%u) calls %s at %s:%d with mask 0x%08x, which leaves out its own "
                  "lane %d", where_text(buf, sizeof buf), a.tid.x, a.tid.y, a.tid.z, opname, a.file,
                  a.line, a.mask, l);
        for (int j = 0; j < 32; j++) {
            if (!(a.mask >> j & 1u)) continue;
            if (j >= lanes)
                fatal("%s: thread (%u,%u,%u) calls %s at %s:%d with mask 0x%08x but lane %d does not "
                      "exist (the block has %d threads)", where_text(buf, sizeof buf), a.tid.x, a.tid.y,
                      a.tid.z, opname, a.file, a.line, a.mask, j, g.n);
            const fiber &b = g.f[(size_t)(base + j)];
            if (b.state == EXITED)
                fatal("%s: thread (%u,%u,%u) waits in %s at %s:%d (mask 0x%08x) for lane %d, which has "
                      "exited: deadlock", where_text(buf, sizeof buf), a.tid.x, a.tid.y, a.tid.z, opname,
                      a.file, a.line, a.mask, j);
            if (b.state == AT_BARRIER)
                fatal("%s: thread (%u,%u,%u) waits in %s at %s:%d (mask 0x%08x) for lane %d, which "
                      "waits at __syncthreads at %s:%d: deadlock", where_text(buf, sizeof buf), a.tid.x,
                      a.tid.y, a.tid.z, opname, a.file, a.line, a.mask, j, b.file, b.line);
            if (b.op != a.op || b.mask != a.mask || (a.op == OP_SHFL && !same_site(a, b)))
                fatal("%s: divergent warp exchange: thread (%u,%u,%u) is in %s at %s:%d with mask "
                      "0x%08x, lane %d in %s at %s:%d with mask 0x%08x", where_text(buf, sizeof buf),
                      a.tid.x, a.tid.y, a.tid.z, opname, a.file, a.line, a.mask, j,
                      b.op == OP_SHFL ? "__shfl_xor_sync" : "__syncwarp", b.file, b.line, b.mask);
        }
        for (int j = 0; j < 32; j++) {
            if (!(a.mask >> j & 1u)) continue;
            fiber &b = g.f[(size_t)(base + j)];
            if (b.op == OP_SHFL) {
                if (!(a.mask >> b.src & 1u))
                    fatal("%s: thread (%u,%u,%u) reads lane %d with __shfl_xor_sync at %s:%d, outside "
                          "the mask 0x%08x (undefined on the GPU)", where_text(buf, sizeof buf), b.tid.x,
                          b.tid.y, b.tid.z, b.src, b.file, b.line, a.mask);
                b.result = g.f[(size_t)(base + b.src)].value;
            }
        }
        for (int j = 0; j < 32; j++)
            if (a.mask >> j & 1u) g.f[(size_t)(base + j)].state = RUNNABLE;
        done = true;
    }
    return done;
}

/* Releases the block barrier when every live thread waits at it (exited threads count as arrived,
 * as on the hardware). Returns false when every thread has exited. */
bool release_barrier()
{
    char buf[256];
    const fiber *first = nullptr;
    for (int i = 0; i < g.n; i++) {
        const fiber &b = g.f[(size_t)i];
        if (b.state == EXITED) continue;
        if (b.state != AT_BARRIER) fatal("scheduler: thread %d is neither waiting nor done", i);
        if (!first) {
            first = &b;
        } else if (!same_site(b, *first)) {
            fatal("%s: divergent __syncthreads: thread (%u,%u,%u) waits at %s:%d, thread (%u,%u,%u) "
                  "at %s:%d", where_text(buf, sizeof buf), first->tid.x, first->tid.y, first->tid.z,
                  first->file, first->line, b.tid.x, b.tid.y, b.tid.z, b.file, b.line);
        }
    }
    if (!first) return false;
    for (int i = 0; i < g.n; i++)
        if (g.f[(size_t)i].state == AT_BARRIER) g.f[(size_t)i].state = RUNNABLE;
    return true;
}

/* Warp by warp: a warp runs until each of its lanes waits at the block barrier or has exited, its
 * exchanges completed as soon as their lanes arrive. Warps, and lanes within a warp, are resumed in
 * an order shuffled again after every barrier. */
void run_block()
{
    for (int i = 0; i < g.n; i++) start_fiber(g.f[(size_t)i], i);
    const int warps = (g.n + 31) / 32;
    for (;;) {
        shuffle(g.warp_order, warps);
        shuffle(g.lane_order, 32);
        for (int w = 0; w < warps; w++) {
            const int base = g.warp_order[(size_t)w] * 32, lanes = g.n - base < 32 ? g.n - base : 32;
            do {
                for (int k = 0; k < 32; k++) {
                    const int l = g.lane_order[(size_t)k];
                    if (l < lanes && g.f[(size_t)(base + l)].state == RUNNABLE) resume(base + l);
                }
            } while (complete_warp(base, lanes));
        }
        if (!release_barrier()) return;
    }
}

fiber &waiting_fiber(const char *what)
{
    if (!g.where || g.running < 0) fatal("%s called outside a kernel", what);
    return g.f[(size_t)g.running];
}

} // namespace

void here::syncthreads() const
{
    fiber &me = waiting_fiber("__syncthreads");
    me.state = AT_BARRIER;
    me.file = file;
    me.line = line;
    switch_to_scheduler(me, false);
}

void here::syncwarp(unsigned int mask) const
{
    fiber &me = waiting_fiber("__syncwarp");
    me.state = AT_WARP;
    me.op = OP_SYNCWARP;
    me.mask = mask;
    me.file = file;
    me.line = line;
    switch_to_scheduler(me, false);
}

uint64_t here::exchange(unsigned int mask, uint64_t bits, int lane_mask, int width) const
{
    fiber &me = waiting_fiber("__shfl_xor_sync");
    if (width < 1 || width > 32 || (width & (width - 1)))
        fatal("__shfl_xor_sync at %s:%d: width %d, expected a power of two in 1..32", file, line, width);
    const int lane = g.running & 31;
    int src = (lane ^ lane_mask) & 31;
    /* A lane may read its own and earlier width-groups; a later group gives it its own value. */
    if ((src & -width) > (lane & -width)) src = lane;
    me.state = AT_WARP;
    me.op = OP_SHFL;
    me.mask = mask;
    me.src = src;
    me.value = bits;
    me.file = file;
    me.line = line;
    switch_to_scheduler(me, false);
    return me.result;
}

namespace {

/* One grid's blocks, handed out to the calling thread and the workers one at a time. */
struct grid_job {
    const site *where;
    const std::function<void()> *body;
    dim3 grid, block;
    size_t smem;
    uint64_t nblocks, first, step, seed;
    std::atomic<uint64_t> next;
};

uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

void run_blocks(grid_job &job)
{
    const dim3 block = job.block, grid = job.grid;
    const int n = (int)(block.x * block.y * block.z);
    while ((int)g.stacks.size() < n) g.stacks.push_back(new_stack());
#if CUEMU_ASAN
    g.dirty.resize(g.stacks.size());
#endif
    g.where = job.where;
    g.body = job.body;
    g.n = n;
    g.f.assign((size_t)n, fiber{});
    g.warp_order.resize((size_t)(n + 31) / 32);
    g.lane_order.resize(32);
    for (int i = 0; i < n; i++) {
        fiber &fb = g.f[(size_t)i];
        fb.stack = g.stacks[(size_t)i];
        fb.tid = uint3{(unsigned int)i % block.x, (unsigned int)i / block.x % block.y,
                       (unsigned int)i / (block.x * block.y)};
    }
    g.shared.resize(job.smem ? job.smem : 1);
    g.shared.shrink_to_fit(); /* exactly smem bytes: AddressSanitizer sees a read past the end */
    dynamic_smem_base = g.shared.data();
    current.block_dim = block;
    current.grid_dim = grid;
    for (uint64_t k; (k = job.next.fetch_add(1)) < job.nblocks;) {
        const uint64_t b = (job.first + k * job.step) % job.nblocks;
        current.block = uint3{(unsigned int)(b % grid.x), (unsigned int)(b / grid.x % grid.y),
                              (unsigned int)(b / ((uint64_t)grid.x * grid.y))};
        /* Each block's thread orders depend on the launch and the block only, not on which OS
         * thread runs it: a failure reproduces with the same CUEMU_SEED. */
        g.rng = mix(job.seed ^ mix(b + 1)) | 1u;
        for (size_t w = 0; w < g.warp_order.size(); w++) g.warp_order[w] = (int)w;
        for (int l = 0; l < 32; l++) g.lane_order[(size_t)l] = l;
        memset(g.shared.data(), 0xff, g.shared.size());
        g.running = -1;
        run_block();
    }
    g.where = nullptr;
    g.running = -1;
    dynamic_smem_base = nullptr;
}

/* Worker OS threads: blocks are independent by CUDA's contract, so they may run at once. */
struct pool {
    std::mutex lock;
    std::condition_variable wake, done;
    std::vector<std::thread> threads;
    grid_job *job = nullptr;
    uint64_t generation = 0;
    int busy = 0;

    void work(void)
    {
        uint64_t seen = 0;
        std::unique_lock<std::mutex> l(lock);
        for (;;) {
            wake.wait(l, [&] { return generation != seen; });
            seen = generation;
            grid_job *j = job;
            l.unlock();
            run_blocks(*j);
            l.lock();
            if (--busy == 0) done.notify_all();
        }
    }
};

int worker_count()
{
    const char *e = getenv("CUEMU_THREADS");
    int n = e && *e ? atoi(e) : (int)std::thread::hardware_concurrency();
    return n < 1 ? 1 : (n > 64 ? 64 : n);
}

} // namespace

void run_grid(const site &where, dim3 grid, dim3 block, size_t smem,
              const std::function<void()> &body)
{
    static uint64_t seed = [] {
        const char *s = getenv("CUEMU_SEED");
        return s && *s ? strtoull(s, nullptr, 0) : 0x9E3779B97F4A7C15ull;
    }();
    /* Never destroyed: workers block in wait() forever, and process exit does not join them. */
    static pool *workers = [] {
        pool *p = new pool;
        for (int i = 1; i < worker_count(); i++) p->threads.emplace_back([p] { p->work(); });
        return p;
    }();
    grid_job job;
    job.where = &where;
    job.body = &body;
    job.grid = grid;
    job.block = block;
    job.smem = smem;
    job.nblocks = (uint64_t)grid.x * grid.y * grid.z;
    seed = mix(seed + 1);
    job.seed = seed;
    /* Blocks in a random order too: a grid may not depend on one block finishing before another. */
    job.first = mix(seed ^ 1) % job.nblocks;
    job.step = job.nblocks > 1 ? mix(seed ^ 2) % (job.nblocks - 1) + 1 : 1;
    while (job.nblocks > 1 && std::gcd(job.step, job.nblocks) != 1) job.step++;
    job.next = 0;
    /* Waking the workers costs more than a few small blocks take. */
    const int helpers = job.nblocks >= 4 ? (int)workers->threads.size() : 0;
    if (helpers > 0) {
        std::lock_guard<std::mutex> l(workers->lock);
        workers->job = &job;
        workers->busy = helpers;
        workers->generation++;
        workers->wake.notify_all();
    }
    run_blocks(job);
    if (helpers > 0) {
        std::unique_lock<std::mutex> l(workers->lock);
        workers->done.wait(l, [&] { return workers->busy == 0; });
    }
}

} // namespace cuemu
