/// The directory and the files after it when a harness runs as `HARNESS -seeds DIR [FILE...]` (to write its
/// seeds instead of fuzzing), from the arguments libFuzzer hands LLVMFuzzerInitialize; nil otherwise.
func seedArguments(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> (directory: String, files: [String])? {
    let arguments = (0..<Int(argc.pointee)).map { String(cString: argv.pointee![$0]!) }
    guard let flag = arguments.firstIndex(of: "-seeds"), flag + 1 < arguments.count else { return nil }
    return (arguments[flag + 1], Array(arguments[(flag + 2)...]))
}
