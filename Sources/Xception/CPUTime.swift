import Foundation

/// CPU time, user and system, in seconds: of the whole process (benchmarks' CPU per item, the worker's
/// summary), of the calling thread (steps of synchronous work, which stays on its thread), and of the
/// process's threads of one name (the engine's).
public enum CPUTime {
    public static var process: Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    public static var currentThread: Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// The threads named `name` (their comm in /proc; threads inherit their creator's); 0 where /proc is not
    /// there.
    static func threads(named name: String) -> Double {
        let tasks = "/proc/self/task"
        guard let ids = try? FileManager.default.contentsOfDirectory(atPath: tasks) else { return 0 }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ids.reduce(0) { total, id in
            // "pid (name) state ppid ...": utime and stime are the 12th and 13th fields after the name.
            guard let stat = try? String(contentsOfFile: "\(tasks)/\(id)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
                stat[stat.index(after: open)..<close] == name
            else { return total }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return total }
            return total + (user + system) / ticks
        }
    }
}
