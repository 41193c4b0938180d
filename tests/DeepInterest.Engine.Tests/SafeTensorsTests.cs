using System.Buffers.Binary;
using System.Text;
using DeepInterest.Engine;
using DeepInterest.Engine.IO;
using DeepInterest.Engine.Modules;

namespace DeepInterest.Engine.Tests;

public class SafeTensorsTests
{
    private static byte[] File(string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var b = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)h.Length);
        h.CopyTo(b, 8);
        return b;
    }

    private static string Error(byte[] bytes) => Assert.Throws<SafeTensorsException>(() => SafeTensors.Parse(bytes)).Message;

    [Fact]
    public void RoundTripsAStateDict()
    {
        var lin = new Linear(3, 2, new Rng(1));
        var path = Path.Combine(Path.GetTempPath(), $"st-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Save(path, lin.StateDict(), new Dictionary<string, string> { ["format"] = "pt" });
            var (entries, meta) = SafeTensors.Read(path);
            Assert.Equal("pt", meta["format"]);
            Assert.Equal(["weight", "bias"], entries.Select(e => e.Name));
            var copy = new Linear(3, 2, new Rng(2));
            copy.LoadStateDict(SafeTensors.Load(path));
            Assert.Equal(lin.Weight.ToArray(), copy.Weight.ToArray());
            Assert.Equal(lin.Bias!.ToArray(), copy.Bias!.ToArray());
            var raw = System.IO.File.ReadAllBytes(path);
            Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(raw) % 8);   // data section 8-byte aligned
        }
        finally { System.IO.File.Delete(path); }
    }

    [Fact]
    public void ReadsFilesWrittenByPython() =>
        Assert.Equal(new[] { 3, 5, 4 }, SafeTensors.Load(TestPaths.Fixture("din_attention_unit.safetensors"))["k"].Shape.ToArray());

    [Fact]
    public void RefusesMalformedFilesWithOneLineErrors()
    {
        Assert.Contains("shorter than the 8-byte header length", Error([1, 2, 3]));
        var huge = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(huge, ulong.MaxValue);
        Assert.Contains("exceeds the limit", Error(huge));
        var past = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(past, 100);
        Assert.Contains("runs past the end", Error(past));
        Assert.Contains("not valid JSON", Error(File("{\"a\": ", 0)));
        Assert.Contains("run past the data section", Error(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4)));
        Assert.Contains("overlap", Error(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12)));
        Assert.Contains("needs 12 bytes but data_offsets span 8", Error(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8)));
        Assert.Contains("non-negative integers", Error(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8)));
        Assert.Contains("duplicate tensor name 'a'", Error(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)));
        Assert.Contains("unsupported dtype Q7", Error(File("{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4)));
        Assert.Contains("missing dtype", Error(File("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4)));
        Assert.Contains("begin ≤ end", Error(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4)));
        Assert.Contains("data_offsets must be non-negative", Error(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}", 4)));
        Assert.Contains("shape is too large", Error(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,4]}}", 4)));
        Assert.Contains("data_offsets must be [begin, end]", Error(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":7}}", 4)));
        var badUtf8 = File("{\"a\":1}", 0); badUtf8[10] = 0xFF;
        Assert.IsType<SafeTensorsException>(Record.Exception(() => SafeTensors.Parse(badUtf8)));
        foreach (var msg in new[] { Error([1]), Error(File("{", 0)) }) Assert.DoesNotContain('\n', msg);
    }

    [Fact]
    public void TruncatedFileOnDiskNamesThePath()
    {
        var path = Path.Combine(Path.GetTempPath(), $"st-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Save(path, new Linear(4, 4, new Rng(1)).StateDict());
            var bytes = System.IO.File.ReadAllBytes(path);
            System.IO.File.WriteAllBytes(path, bytes[..^10]);
            var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Load(path));
            Assert.StartsWith(path + ":", e.Message);
        }
        finally { System.IO.File.Delete(path); }
    }

    [Fact]
    public void StrictStateDictLoadingNamesKeysAndCopiesNothing()
    {
        var lin = new Linear(3, 2, new Rng(1));
        var before = lin.Weight.ToArray();
        var bad = new Dictionary<string, Tensor> { ["weight"] = new Tensor(new Shape(2, 4)), ["extra"] = new Tensor(new Shape(1)) };
        var e = Assert.Throws<StateDictException>(() => lin.LoadStateDict(bad));
        Assert.Contains("missing keys: bias", e.Message);
        Assert.Contains("unexpected keys: extra", e.Message);
        Assert.Contains("weight (expected [2, 3], got [2, 4])", e.Message);
        Assert.Equal(before, lin.Weight.ToArray());
    }

    [Fact]
    public void AtomicSaveKeepsTheOldFileWhenWritingFails()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"st-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "w.safetensors");
        try
        {
            SafeTensors.Save(path, new Linear(2, 2, new Rng(1)).StateDict());
            var original = System.IO.File.ReadAllBytes(path);
            // The temporary name is taken by a directory, so the write fails before the rename.
            Directory.CreateDirectory(Path.Combine(dir, $".w.safetensors.{Environment.ProcessId}.tmp"));
            Assert.ThrowsAny<Exception>(() => SafeTensors.Save(path, new Linear(2, 2, new Rng(9)).StateDict()));
            Assert.Equal(original, System.IO.File.ReadAllBytes(path));
        }
        finally { Directory.Delete(dir, true); }
    }
}
