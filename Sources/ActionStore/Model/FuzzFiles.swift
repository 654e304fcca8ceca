/// File reading for the fuzz targets' replay mode (they link only the engine).
public enum FuzzFiles {
    /// The bytes of a file.
    public static func read(_ path: String) throws -> [UInt8] {
        do { return try FileSystem.readFile(path) } catch { throw error }
    }
}
