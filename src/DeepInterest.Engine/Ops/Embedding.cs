using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;

namespace DeepInterest.Engine;

public static partial class F
{
    /// <summary>
    /// Row lookup: out[..., :] = table[ids[...], :] for table [V, E] and ids of rank ≤ 3 → ids.Shape + [E].
    /// Id 0 is padding: it yields table row 0 (kept at zero by <see cref="Modules.Embedding"/>) and
    /// receives no gradient. The gradient is row-sparse when <c>table.HasSparseGrad</c>
    /// (only touched rows are written), dense otherwise.
    /// </summary>
    public static Tensor Embedding(Tensor table, IntTensor ids)
    {
        if (table.Rank != 2) throw new ArgumentException($"Embedding: table must be [V, E], got {table.Shape}.");
        if (ids.Shape.Rank >= Shape.MaxRank) throw new ArgumentException($"Embedding: ids must have rank < {Shape.MaxRank}, got {ids.Shape}.");
        int v = table.Shape[0], e = table.Shape[1];
        CheckIds(ids, v, "Embedding");
        var y = Tensor.Empty(ids.Shape.Append(e));
        var k = new LookupRows { Table = table.Buffer, TableSize = table.Size, Ids = ids.Data, Y = y.Buffer, E = e };
        Kernels.ChannelKernels.ForRows(ids.Size, e, ref k, elementsPerPart: Kernels.Par.MinElementsPerPart);
        if (Tape.ShouldRecord(table))
        {
            var n = EmbeddingNode.Rent();
            n.Table = table; n.Ids = ids;
            Tape.Record(n, y);
        }
        return y;
    }

    /// <summary>
    /// Lookups of several tables side by side, as <c>ConcatLast(Embedding(t₀, ids₀), Embedding(t₁, ids₁), …)</c>
    /// in one pass: out[..., o_j : o_j + E_j] = tables[j][ids[j][...]] with o_j = E_0 + … + E_{j−1}; all ids
    /// share one shape → ids.Shape + [Σ E_j]. An attention group's item ‖ category keys are written
    /// straight into their concatenated layout instead of twice (lookup, then copy). Id 0 is padding
    /// and receives no gradient; gradients are row-sparse per table as in <see cref="Embedding"/>.
    /// </summary>
    public static Tensor EmbeddingConcat(IReadOnlyList<Tensor> tables, IReadOnlyList<IntTensor> ids)
    {
        int count = tables.Count;
        if (count == 0 || ids.Count != count) throw new ArgumentException($"EmbeddingConcat: {count} tables and {ids.Count} id tensors; need the same number, at least one.");
        var shape = ids[0].Shape;
        if (shape.Rank >= Shape.MaxRank) throw new ArgumentException($"EmbeddingConcat: ids must have rank < {Shape.MaxRank}, got {shape}.");
        var bufs = new float[count][]; var sizes = new int[count]; var widths = new int[count]; var idArrays = new int[count][];
        int total = 0;
        for (int j = 0; j < count; j++)
        {
            var t = tables[j];
            if (t.Rank != 2) throw new ArgumentException($"EmbeddingConcat: table {j} must be [V, E], got {t.Shape}.");
            if (ids[j].Shape != shape) throw new ArgumentException($"EmbeddingConcat: ids {j} have shape {ids[j].Shape}, ids 0 have {shape}.");
            CheckIds(ids[j], t.Shape[0], "EmbeddingConcat");
            bufs[j] = t.Buffer; sizes[j] = t.Size; widths[j] = t.Shape[1]; idArrays[j] = ids[j].Data;
            total += widths[j];
        }
        var y = Tensor.Empty(shape.Append(total));
        var k = new ConcatLookupRows { Tables = bufs, Sizes = sizes, Widths = widths, Ids = idArrays, Y = y.Buffer, Total = total };
        Kernels.ChannelKernels.ForRows(shape.Size, total, ref k, elementsPerPart: Kernels.Par.MinElementsPerPart);
        if (Tape.ShouldRecordAny(tables))
        {
            var node = EmbeddingConcatNode.Rent();
            node.Tables = [.. tables]; node.Ids = [.. ids]; node.Total = total;
            Tape.Record(node, y);
        }
        return y;
    }

    private struct ConcatLookupRows : Kernels.IRangeKernel
    {
        public float[][] Tables;
        public int[][] Ids;
        public int[] Sizes, Widths;
        public float[] Y;
        public int Total;

        public void Run(int start, int end)
        {
            for (int j = 0, o = 0; j < Tables.Length; o += Widths[j], j++)
            {
                int e = Widths[j];
                var ts = Tables[j].AsSpan(0, Sizes[j]); var ids = Ids[j];
                for (int i = start; i < end; i++)
                {
                    if (i + 8 < end) Kernels.Simd.Prefetch(ts, ids[i + 8] * e, e);   // rows of large tables miss the cache
                    ts.Slice(ids[i] * e, e).CopyTo(Y.AsSpan(i * Total + o, e));
                }
            }
        }
    }

    private sealed class EmbeddingConcatNode : Node<EmbeddingConcatNode>
    {
        public Tensor[] Tables = null!;
        public IntTensor[] Ids = null!;
        public int Total;
        protected override void Clear() { Tables = null!; Ids = null!; }

        public override void Backward()
        {
            for (int j = 0, o = 0; j < Tables.Length; o += Tables[j].Shape[1], j++)
                if (Tables[j].RequiresGrad) AddRowGrads(Tables[j], Ids[j].Span, Output.Grad!.Span, Total, o);
        }
    }

    /// <summary>
    /// Adds gradient row gy[i·stride + offset, +E) to the table's row ids[i] for every i (row-sparse when
    /// the table keeps sparse gradients, dense otherwise); id 0, padding, gets none.
    /// </summary>
    private static void AddRowGrads(Tensor table, ReadOnlySpan<int> ids, ReadOnlySpan<float> gy, int stride, int offset)
    {
        int v = table.Shape[0], e = table.Shape[1];
        var sg = table.HasSparseGrad ? table.SparseGrad ??= new RowSparseGrad(v, e) : null;
        var dense = sg is null ? table.GradSpan() : default;
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if (id == 0) continue;
            var row = sg is null ? dense.Slice(id * e, e) : sg.RowGrad(id);
            TensorPrimitives.Add(row, gy.Slice(i * stride + offset, e), row);
        }
    }

    /// <summary>
    /// Lookup and masked pooling in one pass, as PyTorch's EmbeddingBag: y[b] = Σ_t table[ids[b, t]] over
    /// the real positions of mask [B, T] (times 1/count for <see cref="Pooling.Mean"/>; zeros for a row
    /// with none) → [B, E], without writing the [B, T, E] lookup. The same sums in the same order as
    /// <c>MaskedPool(Embedding(table, ids), mask, kind)</c>, so results are identical. Backward adds
    /// dy[b] (scaled) to each real position's row, row-sparse when <c>table.HasSparseGrad</c>; id 0
    /// (padding) gets none. Sum and mean only.
    /// </summary>
    public static Tensor EmbeddingBag(Tensor table, IntTensor ids, Mask mask, Pooling kind)
    {
        if (table.Rank != 2) throw new ArgumentException($"EmbeddingBag: table must be [V, E], got {table.Shape}.");
        if (ids.Shape.Rank != 2) throw new ArgumentException($"EmbeddingBag: ids must be [B, T], got {ids.Shape}.");
        if (kind == Pooling.Max) throw new ArgumentException("EmbeddingBag: sum or mean pooling only (max needs the looked-up rows).");
        int b = ids.Shape[0], t = ids.Shape[1], v = table.Shape[0], e = table.Shape[1];
        CheckMask(mask, b, t, "EmbeddingBag");
        CheckIds(ids, v, "EmbeddingBag");
        var y = Tensor.Empty(new Shape(b, e));
        var k = new BagRows { Table = table.Buffer, TableSize = table.Size, Ids = ids.Data, M = mask.Buffer, Y = y.Buffer, T = t, E = e, Mean = kind == Pooling.Mean };
        Kernels.ChannelKernels.ForRows(b, t * e, ref k, elementsPerPart: Kernels.Par.MinElementsPerPart);
        if (Tape.ShouldRecord(table))
        {
            var n = EmbeddingBagNode.Rent();
            n.Table = table; n.Ids = ids; n.M = mask; n.Mean = kind == Pooling.Mean;
            Tape.Record(n, y);
        }
        return y;
    }

    private struct BagRows : Kernels.IRangeKernel
    {
        public float[] Table, Y;
        public int[] Ids;
        public bool[] M;
        public int TableSize, T, E;
        public bool Mean;

        public void Run(int start, int end)
        {
            int t = T, e = E;
            var ts = Table.AsSpan(0, TableSize);
            for (int i = start; i < end; i++)
            {
                var y = Y.AsSpan(i * e, e);
                y.Clear();
                int count = 0;
                for (int j = 0; j < t; j++)
                {
                    if (!M[i * t + j]) continue;
                    TensorPrimitives.Add(y, ts.Slice(Ids[i * t + j] * e, e), y);
                    count++;
                }
                if (Mean && count > 0) TensorPrimitives.Multiply(y, 1f / count, y);
            }
        }
    }

    private sealed class EmbeddingBagNode : Node<EmbeddingBagNode>
    {
        public Tensor Table = null!;
        public IntTensor Ids = null!;
        public Mask M = null!;
        public bool Mean;
        protected override void Clear() { Table = null!; Ids = null!; M = null!; }

        public override void Backward()
        {
            if (!Table.RequiresGrad) return;
            int v = Table.Shape[0], e = Table.Shape[1], b = Ids.Shape[0], t = Ids.Shape[1];
            var gy = Output.Grad!.Span; var ids = Ids.Span;
            var sg = Table.HasSparseGrad ? Table.SparseGrad ??= new RowSparseGrad(v, e) : null;
            var dense = sg is null ? Table.GradSpan() : default;
            var scaled = Mean ? Tensor.Empty(new Shape(e)).Span : default;
            for (int i = 0; i < b; i++)
            {
                int count = M.CountRow(i);
                if (count == 0) continue;
                var g = gy.Slice(i * e, e);
                if (Mean) { TensorPrimitives.Multiply(g, 1f / count, scaled); g = scaled; }
                for (int j = 0; j < t; j++)
                {
                    int id = ids[i * t + j];
                    if (!M[i, j] || id == 0) continue;
                    var row = sg is null ? dense.Slice(id * e, e) : sg.RowGrad(id);
                    TensorPrimitives.Add(row, g, row);
                }
            }
        }
    }

    private static void CheckIds(IntTensor ids, int vocab, string op)
    {
        var idSpan = ids.Span;
        for (int i = 0; i < idSpan.Length; i++)
            if ((uint)idSpan[i] >= (uint)vocab)
                throw new ArgumentException($"{op}: id {idSpan[i]} at position {i} is outside the vocabulary [0, {vocab}).");
    }

    private struct LookupRows : Kernels.IRangeKernel
    {
        public float[] Table, Y;
        public int[] Ids;
        public int TableSize, E;

        public void Run(int start, int end)
        {
            int e = E;
            var ts = Table.AsSpan(0, TableSize);
            for (int i = start; i < end; i++)
            {
                if (i + 8 < end) Kernels.Simd.Prefetch(ts, Ids[i + 8] * e, e);   // rows of large tables miss the cache
                ts.Slice(Ids[i] * e, e).CopyTo(Y.AsSpan(i * e, e));
            }
        }
    }

    private sealed class EmbeddingNode : Node<EmbeddingNode>
    {
        public Tensor Table = null!;
        public IntTensor Ids = null!;
        protected override void Clear() { Table = null!; Ids = null!; }

        public override void Backward()
        {
            if (Table.RequiresGrad) AddRowGrads(Table, Ids.Span, Output.Grad!.Span, Table.Shape[1], 0);
        }
    }
}

public static partial class F
{
    /// <summary>
    /// (λ/2)·Σ_{j ∈ rows} s_j‖w_j‖² over distinct table rows (row 0, padding, is skipped), with
    /// s_j = <paramref name="scale"/>[j] or 1. Backward adds λ·s_j·w_j to exactly those rows (row-sparse
    /// when the table keeps sparse gradients). With s_j = 1/n_j (n_j = the row's frequency in the
    /// training data) this is the DIN paper's mini-batch aware regularization (§4.2).
    /// </summary>
    public static Tensor RowPenalty(Tensor table, int[] rows, int count, float[]? scale, float lambda)
    {
        if (table.Rank != 2) throw new ArgumentException($"RowPenalty: table must be [V, E], got {table.Shape}.");
        int e = table.Shape[1];
        var ts = table.Span;
        double s = 0;
        for (int i = 0; i < count; i++)
        {
            int r = rows[i];
            if (r == 0) continue;
            var w = ts.Slice(r * e, e);
            s += (scale is null ? 1f : scale[r]) * (double)TensorPrimitives.Dot(w, w);
        }
        var y = Tensor.Empty(Shape.Scalar);
        y.Span[0] = (float)(0.5 * lambda * s);
        if (Tape.ShouldRecord(table))
        {
            var n = RowPenaltyNode.Rent();
            n.Table = table; n.Rows = rows; n.Count = count; n.Scale = scale; n.Lambda = lambda;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class RowPenaltyNode : Node<RowPenaltyNode>
    {
        public Tensor Table = null!;
        public int[] Rows = null!;
        public float[]? Scale;
        public int Count;
        public float Lambda;
        protected override void Clear() { Table = null!; Rows = null!; Scale = null; }

        public override void Backward()
        {
            if (!Table.RequiresGrad) return;
            int v = Table.Shape[0], e = Table.Shape[1];
            float g = Output.Grad!.Span[0] * Lambda;
            var ts = Table.Span;
            for (int i = 0; i < Count; i++)
            {
                int r = Rows[i];
                if (r == 0) continue;
                float c = g * (Scale is null ? 1f : Scale[r]);
                var dst = Table.HasSparseGrad ? (Table.SparseGrad ??= new RowSparseGrad(v, e)).RowGrad(r) : Table.GradSpan().Slice(r * e, e);
                TensorPrimitives.MultiplyAdd(ts.Slice(r * e, e), c, dst, dst);
            }
        }
    }
}
