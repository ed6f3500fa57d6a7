// Bench.cs - the .NET Task Parallel Library (under Mono) versions of every
// benchmark, written the way the TPL documentation writes them: Task.Run /
// Task.Factory.StartNew with Wait / Result / WaitAll, Parallel.Invoke,
// Parallel.For with thread-local state, ContinueWith, TaskCompletionSource,
// WhenAll / WhenAny, CancellationTokenSource.
//
// Usage: mono Bench.exe BENCH WORKERS SIZE   (protocol: bench/common/bench.h)
// Worker count: ThreadPool.SetMinThreads(N) and SetMaxThreads(N).  Mono
// refuses a maximum below Environment.ProcessorCount, so bench/run.sh runs
// the 1-worker case under `taskset -c 0` (ProcessorCount is then 1).  When
// the maximum is refused anyway this program says so on a NOTE line: the
// pool may then grow past N threads (thread injection).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;

static class Bench
{
	const string Impl = "mono";
	static int workers;

	static long NowNs()
	{
		return (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));
	}

	static void Result(string bench, string impl, long size, double units, long ns)
	{
		Console.WriteLine(string.Format(System.Globalization.CultureInfo.InvariantCulture,
			"RESULT bench={0} impl={1} workers={2} size={3} units={4:F0} ns={5} per={6:F3}",
			bench, impl, workers, size, units, ns, ns / units));
	}

	static void Check(string bench, long got, long want)
	{
		if (got != want) {
			Console.Error.WriteLine("WRONG ANSWER bench={0} impl={1} got={2} want={3}",
				bench, Impl, got, want);
			Environment.Exit(3);
		}
	}

	// ---- fib -----------------------------------------------------------
	static long FibRef(int n)
	{
		long a = 0, b = 1;
		for (int i = 0; i < n; i++) { long t = a + b; a = b; b = t; }
		return a;
	}
	static double FibCalls(int n) { return 2.0 * FibRef(n + 1) - 1.0; }

	// Task per call: fib(n-1) is a task, fib(n-2) runs here, then Result.
	static long FibTask(int n)
	{
		if (n < 2) return n;
		Task<long> t = Task.Run(() => FibTask(n - 1));
		long y = FibTask(n - 2);
		return t.Result + y;
	}

	// Parallel.Invoke of the two recursive calls.
	static long FibInvoke(int n)
	{
		if (n < 2) return n;
		long x = 0, y = 0;
		Parallel.Invoke(() => x = FibInvoke(n - 1), () => y = FibInvoke(n - 2));
		return x + y;
	}

	// ---- skynet ---------------------------------------------------------
	static long Skynet(long num, long size)
	{
		if (size == 1) return num;
		long sub = size / 10;
		var ts = new Task<long>[10];
		for (int i = 0; i < 10; i++) {
			long child = num + i * sub;
			ts[i] = Task.Run(() => Skynet(child, sub));
		}
		Task.WaitAll(ts);
		long sum = 0;
		for (int i = 0; i < 10; i++) sum += ts[i].Result;
		return sum;
	}
	static long Pow10(int d) { long n = 1; for (int i = 0; i < d; i++) n *= 10; return n; }
	static double SkynetTasks(int d) { double t = 0, p = 1; for (int i = 0; i <= d; i++, p *= 10) t += p; return t; }

	// ---- nqueens --------------------------------------------------------
	static long NQueens(int n, uint cols, uint d1, uint d2, int row)
	{
		if (row == n) return 1;
		uint all = (1u << n) - 1, free = all & ~(cols | d1 | d2);
		var ts = new List<Task<long>>();
		while (free != 0) {
			uint bit = free & (0u - free);
			free &= free - 1;
			uint c = cols | bit, a = ((d1 | bit) << 1) & all, b = (d2 | bit) >> 1;
			ts.Add(Task.Run(() => NQueens(n, c, a, b, row + 1)));
		}
		Task.WaitAll(ts.ToArray());
		long sum = 0;
		foreach (var t in ts) sum += t.Result;
		return sum;
	}
	static void NQCount(int n, uint cols, uint d1, uint d2, int row, ref long sol, ref long pl)
	{
		if (row == n) { sol++; return; }
		uint all = (1u << n) - 1, free = all & ~(cols | d1 | d2);
		while (free != 0) {
			uint bit = free & (0u - free);
			free &= free - 1;
			pl++;
			NQCount(n, cols | bit, ((d1 | bit) << 1) & all, (d2 | bit) >> 1, row + 1, ref sol, ref pl);
		}
	}
	static readonly long[] NQKnown = { 1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712, 365596, 2279184 };

	// ---- parallel for -----------------------------------------------------
	static double PFor(double[] a)
	{
		double total = 0;
		object lk = new object();
		Parallel.For(0, a.Length, () => 0.0,
			(i, st, local) => local + a[i],
			local => { lock (lk) total += local; });
		return total;
	}
	static long PForRef(long n)
	{
		long full = n / 1024, rest = n % 1024;
		return full * (1023L * 1024 / 2) + rest * (rest - 1) / 2;
	}

	// ---- issue #3: continuations, promises, composition, cancellation -----
	static int chainCount;

	// A chain of N continuations on a pending TaskCompletionSource task;
	// completing the source runs the chain.  Returns the links that ran.
	// Synchronous chains are cut into segments of SyncSegment links, each
	// built, started and waited in turn: in Mono 6.8 a longer synchronous
	// chain stops for good where the stack guard trips (about 2,800 links on
	// a pool thread, 11,600 on the main thread) and its last task never
	// completes.  See bench/README.md.
	const int SyncSegment = 1000;
	static long Chain(int n, bool sync)
	{
		chainCount = 0;
		var opt = sync ? TaskContinuationOptions.ExecuteSynchronously : TaskContinuationOptions.None;
		int seg = sync ? SyncSegment : n;
		for (int done = 0; done < n; done += seg) {
			int len = Math.Min(seg, n - done);
			var tcs = new TaskCompletionSource<int>();
			Task t = tcs.Task;
			for (int i = 0; i < len; i++)
				t = t.ContinueWith(a => { chainCount++; }, opt);
			tcs.SetResult(0);
			t.Wait();
		}
		return chainCount;
	}

	// Two long-running tasks hand a baton back and forth N times through
	// TaskCompletionSource objects (made before the clock starts).
	static long PingPong(int n, out long ns)
	{
		var p = new TaskCompletionSource<int>[n];
		for (int i = 0; i < n; i++) p[i] = new TaskCompletionSource<int>();
		long bad = 0;
		Action<int> side = first => {
			for (int i = first; i < n; i += 2) {
				if (i > 0 && p[i - 1].Task.Result != i - 1) Interlocked.Increment(ref bad);
				p[i].SetResult(i);
			}
		};
		long t0 = NowNs();
		var a = Task.Factory.StartNew(() => side(0), TaskCreationOptions.LongRunning);
		var b = Task.Factory.StartNew(() => side(1), TaskCreationOptions.LongRunning);
		Task.WaitAll(a, b);
		ns = NowNs() - t0;
		return bad == 0 ? p[n - 1].Task.Result + 1 : -bad;
	}

	static int fanCount;
	static long FanOut(int n)
	{
		fanCount = 0;
		var ts = new Task[n];
		for (int i = 0; i < n; i++)
			ts[i] = Task.Run(() => { Interlocked.Increment(ref fanCount); });
		Task.WhenAll(ts).Wait();
		return fanCount;
	}

	// ITER rounds of WhenAny over 1000 pending sources; one completes, the
	// clock covers WhenAny + SetResult + Wait; the rest are completed after.
	static long WhenAny(int iters, out long ns)
	{
		const int k = 1000;
		long ok = 0;
		ns = 0;
		var tasks = new Task<int>[k];
		var srcs = new TaskCompletionSource<int>[k];
		for (int it = 0; it < iters; it++) {
			for (int i = 0; i < k; i++) { srcs[i] = new TaskCompletionSource<int>(); tasks[i] = srcs[i].Task; }
			int win = (int)((it * 7919L) % k);
			long t0 = NowNs();
			Task<Task<int>> w = Task.WhenAny(tasks);
			srcs[win].SetResult(win);
			Task<int> first = w.Result;
			ns += NowNs() - t0;
			if (first == tasks[win] && first.Result == win) ok++;
			for (int i = 0; i < k; i++) srcs[i].TrySetResult(i);
		}
		return ok;
	}

	static volatile bool release;
	static int started, ranBodies;
	// Occupy every pool thread with a spinning task so the N tasks stay
	// queued; start N tasks with a token; cancel; WaitAll.  Returns how many
	// tasks ended Canceled; RAN = how many bodies ran anyway.  (Mono's pool
	// can start a thread past SetMaxThreads here, which then runs some of the
	// tasks before the cancel: the runner reports that as a note.)
	static long Cancel(int n, out long ran)
	{
		release = false; started = 0; ranBodies = 0;
		var blockers = new Task[workers];
		for (int i = 0; i < blockers.Length; i++)
			blockers[i] = Task.Run(() => { Interlocked.Increment(ref started); while (!release) Thread.SpinWait(20); });
		while (Volatile.Read(ref started) < blockers.Length) Thread.Yield();
		var cts = new CancellationTokenSource();
		var ts = new Task[n];
		for (int i = 0; i < n; i++)
			ts[i] = Task.Factory.StartNew(() => { Interlocked.Increment(ref ranBodies); }, cts.Token);
		cts.Cancel();
		release = true;
		long canceled = 0;
		try {
			Task.WaitAll(ts);
		} catch (AggregateException ae) {
			canceled = ae.InnerExceptions.Count;
		}
		Task.WaitAll(blockers);
		cts.Dispose();
		ran = ranBodies;
		return canceled;
	}

	// From the main (non-pool) thread: Task.Run(trivial).Wait(), ITERS times.
	static long RoundTrip(int iters)
	{
		long done = 0;
		for (int i = 0; i < iters; i++) {
			Task.Run(() => { }).Wait();
			done++;
		}
		return done;
	}

	// Run F on the pool (the root task) and give its result.  The issue #2
	// benchmarks run their root this way, as the C versions do.  The issue #3
	// ones (chain, fanout, whenany, cancel) drive from the main thread, as
	// the TPL documentation writes them: a pool-thread driver that blocks in
	// Wait deadlocks Mono's pool when it has one thread (Mono does not run
	// other queued work while a pool thread waits on a promise-style task),
	// and at two threads it was slower than the main-thread driver.
	static long OnPool(Func<long> f) { return Task.Run(f).Result; }

	static int Main(string[] args)
	{
		const string names = "fib fib-invoke skynet nqueens pfor chain-async chain-sync pingpong fanout whenany cancel roundtrip";
		if (args.Length != 3) {
			Console.Error.WriteLine("usage: mono Bench.exe BENCH WORKERS SIZE\n  BENCH: " + names);
			return 2;
		}
		string b = args[0];
		workers = int.Parse(args[1]);
		long size = long.Parse(args[2]);
		bool minOk = ThreadPool.SetMinThreads(workers, workers);
		bool maxOk = ThreadPool.SetMaxThreads(workers, workers);
		if (!minOk || !maxOk)
			Console.WriteLine("NOTE mono: ThreadPool.Set{0}Threads({1}) refused (ProcessorCount={2}): the pool may use more than {1} threads",
				maxOk ? "Min" : "Max", workers, Environment.ProcessorCount);
		long t0, t1, r;
		int n = (int)size;
		switch (b) {
		case "fib":
		case "fib-invoke": {
			Func<int, long> f = b == "fib" ? (Func<int, long>)FibTask : FibInvoke;
			int w = n > 8 ? n - 8 : n;
			Check(b, OnPool(() => f(w)), FibRef(w));
			long res = 0;
			t0 = NowNs();
			res = OnPool(() => f(n));
			t1 = NowNs();
			Check(b, res, FibRef(n));
			Result("fib", b == "fib" ? "mono-task" : "mono-invoke", size, FibCalls(n), t1 - t0);
			break;
		}
		case "skynet":
			Check(b, OnPool(() => Skynet(0, Pow10(n - 2))), Pow10(n - 2) * (Pow10(n - 2) - 1) / 2);
			t0 = NowNs();
			r = OnPool(() => Skynet(0, Pow10(n)));
			t1 = NowNs();
			Check(b, r, Pow10(n) * (Pow10(n) - 1) / 2);
			Result(b, "mono-task", size, SkynetTasks(n), t1 - t0);
			break;
		case "nqueens": {
			long sol = 0, pl = 0;
			NQCount(n, 0, 0, 0, 0, ref sol, ref pl);
			Check(b, OnPool(() => NQueens(n - 3, 0, 0, 0, 0)), NQKnown[n - 3]);
			t0 = NowNs();
			r = OnPool(() => NQueens(n, 0, 0, 0, 0));
			t1 = NowNs();
			Check(b, r, NQKnown[n]);
			Check(b, sol, NQKnown[n]);
			Result(b, "mono-task", size, pl, t1 - t0);
			break;
		}
		case "pfor": {
			var a = new double[n];
			for (int i = 0; i < n; i++) a[i] = i & 1023;
			double s = 0;
			OnPool(() => { PFor(a); return 0; });
			t0 = NowNs();
			OnPool(() => { s = PFor(a); return 0; });
			t1 = NowNs();
			Check(b, (long)s, PForRef(n));
			Result(b, "mono-parallel-for", size, n, t1 - t0);
			break;
		}
		case "chain-async":
		case "chain-sync": {
			bool sync = b == "chain-sync";
			// warm-up at full size: see WARM-UP in bench/README.md
			Check(b, Chain(n, sync), n);
			t0 = NowNs();
			r = Chain(n, sync);
			t1 = NowNs();
			Check(b, r, n);
			Result(b, Impl, size, n, t1 - t0);
			break;
		}
		case "pingpong": {
			long ns;
			Check(b, PingPong(n / 10, out ns), n / 10);
			Check(b, PingPong(n, out ns), n);
			Result(b, Impl, size, n, ns);
			break;
		}
		case "fanout":
			Check(b, FanOut(n), n);
			t0 = NowNs();
			r = FanOut(n);
			t1 = NowNs();
			Check(b, r, n);
			Result(b, Impl, size, n, t1 - t0);
			break;
		case "whenany": {
			long ns = 0;
			long x;
			Check(b, WhenAny(Math.Max(1, n / 10), out x), Math.Max(1, n / 10));
			r = WhenAny(n, out ns);
			Check(b, r, n);
			Result(b, Impl, size, n, ns);
			break;
		}
		case "cancel": {
			long ran = 0, ran0 = 0;
			long c0 = Cancel(n, out ran0);
			Check(b, c0 + ran0, n);
			t0 = NowNs();
			r = Cancel(n, out ran);
			t1 = NowNs();
			Check(b, r + ran, n);
			if (ran > 0)
				Console.WriteLine("NOTE cancel-ran impl=mono workers={0} ran={1} n={2}", workers, ran, n);
			Result(b, Impl, size, n, t1 - t0);
			break;
		}
		case "roundtrip":
			Check(b, RoundTrip(Math.Max(1, n / 10)), Math.Max(1, n / 10));
			t0 = NowNs();
			r = RoundTrip(n);
			t1 = NowNs();
			Check(b, r, n);
			Result(b, Impl, size, n, t1 - t0);
			break;
		default:
			Console.Error.WriteLine("unknown benchmark " + b + "; one of: " + names);
			return 2;
		}
		return 0;
	}
}
