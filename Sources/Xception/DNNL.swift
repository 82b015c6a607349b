import CDNNL

/// Thin Swift over oneDNN's C API: status checking and ownership. Only what the plan needs.
enum DNNL {
    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws {
        guard status == dnnl_success else { throw ModelError.backend("\(what()) failed (oneDNN status \(status.rawValue))") }
    }

    /// A memory descriptor from logical NCHW-ordered dims and a format tag.
    static func descriptor(_ dims: [Int], _ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t = dnnl_f32) throws -> dnnl_memory_desc_t {
        var descriptor = dnnl_memory_desc_t()
        let dims64 = dims.map(Int64.init)
        try check(dnnl_memory_desc_init_by_tag(&descriptor, Int32(dims.count), dims64, type, tag), "memory descriptor \(dims)")
        return descriptor
    }

    /// The instruction set oneDNN's kernels use on this CPU: a tag for file names ("avx2",
    /// "avx512_core_amx") and a name for people ("AVX-512 with AMX").
    static var instructionSetTag: String { currentInstructionSet.tag }
    static var instructionSet: String { currentInstructionSet.name }

    private static var currentInstructionSet: (tag: String, name: String) {
        let known: [(isa: dnnl_cpu_isa_t, tag: String, name: String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx", "AVX-512 with AMX"),
            (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16", "AVX-512 with BF16"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni", "AVX-512 with VNNI"),
            (dnnl_cpu_isa_avx512_core, "avx512_core", "AVX-512"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni", "AVX2 with VNNI"),
            (dnnl_cpu_isa_avx2, "avx2", "AVX2"),
            (dnnl_cpu_isa_avx, "avx", "AVX"),
        ]
        let isa = dnnl_get_effective_cpu_isa()
        return known.first { $0.isa == isa }.map { ($0.tag, $0.name) } ?? ("sse41", "SSE4.1 or older")
    }
}

/// oneDNN's CPU engine and one in-order stream.
final class DNNLContext {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    init() throws {
        var engine: dnnl_engine_t?
        try DNNL.check(dnnl_engine_create(&engine, dnnl_cpu, 0), "creating the CPU engine")
        var stream: dnnl_stream_t?
        try DNNL.check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "creating a stream")
        self.engine = engine!
        self.stream = stream!
    }

    deinit {
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }
}

/// A tensor in oneDNN memory, in whatever layout the primitive that wrote it chose.
final class DNNLTensor {
    let memory: dnnl_memory_t
    let descriptor: dnnl_memory_desc_t
    /// Whether the plan places this tensor in its shared arena (set at `PlanBuilder.finalize`) rather
    /// than oneDNN allocating it.
    let deferred: Bool
    /// What holds the bytes of a tensor that does not own them.
    private var owner: AnyObject?

    /// - Parameter deferred: no buffer yet; the plan's memory planner assigns one.
    init(_ descriptor: dnnl_memory_desc_t, context: DNNLContext, deferred: Bool = false) throws {
        var memory: dnnl_memory_t?
        var descriptor = descriptor
        try DNNL.check(
            dnnl_memory_create(&memory, &descriptor, context.engine, deferred ? nil : xceptor_dnnl_memory_allocate()),
            "allocating memory")
        self.memory = memory!
        self.descriptor = descriptor
        self.deferred = deferred
    }

    /// A tensor over bytes oneDNN only reads (packed weights in a mapped file), kept alive with the tensor.
    init(_ descriptor: dnnl_memory_desc_t, context: DNNLContext, readOnly bytes: UnsafeRawPointer, keepingAlive owner: AnyObject) throws {
        var memory: dnnl_memory_t?
        var descriptor = descriptor
        try DNNL.check(
            dnnl_memory_create(&memory, &descriptor, context.engine, UnsafeMutableRawPointer(mutating: bytes)),
            "mapping packed weights")
        self.memory = memory!
        self.descriptor = descriptor
        self.deferred = false
        self.owner = owner
    }

    var byteCount: Int {
        var descriptor = descriptor
        return dnnl_memory_desc_get_size(&descriptor)
    }

    func place(at pointer: UnsafeMutableRawPointer) throws {
        try DNNL.check(dnnl_memory_set_data_handle(memory, pointer), "placing a tensor")
    }

    deinit { dnnl_memory_destroy(memory) }

    func matches(_ other: dnnl_memory_desc_t) -> Bool {
        var mine = descriptor
        var theirs = other
        return dnnl_memory_desc_equal(&mine, &theirs) != 0
    }

    var dataPointer: UnsafeMutableRawPointer {
        var handle: UnsafeMutableRawPointer?
        dnnl_memory_get_data_handle(memory, &handle)
        return handle!
    }
}

/// A created primitive and the descriptor it was made from.
final class DNNLPrimitive {
    let primitive: dnnl_primitive_t
    let descriptor: const_dnnl_primitive_desc_t
    private let ownedDescriptor: dnnl_primitive_desc_t

    /// Creates the primitive for an operation descriptor (a pointer to any `dnnl_*_desc_t`).
    init(operation: UnsafeRawPointer, attributes: dnnl_primitive_attr_t?, context: DNNLContext, what: String) throws {
        var descriptor: dnnl_primitive_desc_t?
        try DNNL.check(dnnl_primitive_desc_create(&descriptor, operation, attributes, context.engine, nil), "describing \(what)")
        var primitive: dnnl_primitive_t?
        try DNNL.check(dnnl_primitive_create(&primitive, descriptor), "creating \(what)")
        self.ownedDescriptor = descriptor!
        self.descriptor = descriptor!
        self.primitive = primitive!
    }

    /// A reorder between two layouts (and data types), with `attributes`' output scales if given.
    init(
        reorderFrom source: dnnl_memory_desc_t, to destination: dnnl_memory_desc_t, context: DNNLContext,
        attributes: DNNLAttributes? = nil
    ) throws {
        var descriptor: dnnl_primitive_desc_t?
        var source = source
        var destination = destination
        try DNNL.check(
            dnnl_reorder_primitive_desc_create(&descriptor, &source, context.engine, &destination, context.engine, attributes?.attributes),
            "describing a reorder")
        var primitive: dnnl_primitive_t?
        try DNNL.check(dnnl_primitive_create(&primitive, descriptor), "creating a reorder")
        self.ownedDescriptor = descriptor!
        self.descriptor = descriptor!
        self.primitive = primitive!
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(ownedDescriptor)
    }

    /// The name of the kernel oneDNN chose ("brg:avx512_core_vnni", "jit_int8:avx2"; "ref" ones are slow C loops).
    var implementation: String {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return "" }
        return String(cString: name)
    }

    /// The layout the primitive chose for one of its memories (source, weights, destination).
    func layout(_ query: dnnl_query_t) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(descriptor, query, 0)!.pointee
    }

    /// The layout the primitive chose for an execution argument (`DNNL_ARG_SRC`, `_WEIGHTS`, `_DST`, ...).
    func layout(ofArgument argument: Int32) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(descriptor, dnnl_query_exec_arg_md, argument)!.pointee
    }

    func execute(_ arguments: [(Int32, DNNLTensor)], context: DNNLContext) throws {
        let args = arguments.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.memory) }
        try DNNL.check(dnnl_primitive_execute(primitive, context.stream, Int32(args.count), args), "running a primitive")
    }
}

/// Post-operations fused into a convolution (ReLU, and/or adding the destination's previous contents) and,
/// for int8, the output scales that take the int32 sums to the destination's scale.
final class DNNLAttributes {
    let attributes: dnnl_primitive_attr_t

    /// - Parameters:
    ///   - sumScale: what the destination's previous contents are multiplied by before they are added.
    ///   - outputScales: one factor for the whole output, or one per element of the dimensions `scaleMask`
    ///     selects (bit i: dimension i).
    init(sum: Bool = false, sumScale: Float = 1, relu: Bool = false, outputScales: [Float]? = nil, scaleMask: Int32 = 0) throws {
        var attributes: dnnl_primitive_attr_t?
        try DNNL.check(dnnl_primitive_attr_create(&attributes), "creating attributes")
        self.attributes = attributes!
        if let outputScales {
            try DNNL.check(
                dnnl_primitive_attr_set_output_scales(attributes, Int64(outputScales.count), scaleMask, outputScales), "output scales")
        }
        var postOps: dnnl_post_ops_t?
        try DNNL.check(dnnl_post_ops_create(&postOps), "creating post-ops")
        defer { dnnl_post_ops_destroy(postOps) }
        if sum { try DNNL.check(dnnl_post_ops_append_sum(postOps, sumScale), "a sum post-op") }
        if relu { try DNNL.check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), "a ReLU post-op") }
        try DNNL.check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "setting post-ops")
    }

    deinit { dnnl_primitive_attr_destroy(attributes) }
}
