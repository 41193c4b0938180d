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
        var idSpan = ids.Span;
        for (int i = 0; i < idSpan.Length; i++)
            if ((uint)idSpan[i] >= (uint)v)
                throw new ArgumentException($"Embedding: id {idSpan[i]} at position {i} is outside the vocabulary [0, {v}).");
        var y = Tensor.Empty(ids.Shape.Append(e));
        var k = new LookupRows { Table = table.Buffer, TableSize = table.Size, Ids = ids.Data, Y = y.Buffer, E = e };
        Kernels.ChannelKernels.ForRows(idSpan.Length, e, ref k, elementsPerPart: 16384);
        if (Tape.ShouldRecord(table))
        {
            var n = EmbeddingNode.Rent();
            n.Table = table; n.Ids = ids;
            Tape.Record(n, y);
        }
        return y;
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
            if (!Table.RequiresGrad) return;
            int v = Table.Shape[0], e = Table.Shape[1];
            var gy = Output.Grad!.Span;
            var ids = Ids.Span;
            if (Table.HasSparseGrad)
            {
                var sg = Table.SparseGrad ??= new RowSparseGrad(v, e);
                for (int i = 0; i < ids.Length; i++)
                {
                    int id = ids[i];
                    if (id == 0) continue;
                    var row = sg.RowGrad(id);
                    TensorPrimitives.Add(row, gy.Slice(i * e, e), row);
                }
            }
            else
            {
                var g = Table.GradSpan();
                for (int i = 0; i < ids.Length; i++)
                {
                    int id = ids[i];
                    if (id == 0) continue;
                    var row = g.Slice(id * e, e);
                    TensorPrimitives.Add(row, gy.Slice(i * e, e), row);
                }
            }
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
