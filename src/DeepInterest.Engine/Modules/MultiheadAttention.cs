namespace DeepInterest.Engine.Modules;

/// <summary>
/// Multi-head scaled dot-product self-attention (Vaswani et al. 2017; DSIN's session interest
/// extractor, §4.2) with nn.MultiheadAttention's parameters: <c>in_proj_weight</c> [3E, E],
/// <c>in_proj_bias</c> [3E], <c>out_proj.weight</c> [E, E], <c>out_proj.bias</c> [E].
/// Input [B, T, E] (batch first). The key mask [B, T] is true at REAL positions — the inverse of
/// PyTorch's key_padding_mask. A query whose keys are all masked attends to nothing: its output is
/// out_proj.bias (PyTorch returns NaN there). Per head: softmax(QKᵀ/√d)·V.
/// </summary>
public sealed class MultiheadAttention : Module
{
    public Tensor InProjWeight { get; }
    public Tensor InProjBias { get; }
    public Linear OutProj { get; }
    public int Heads { get; }
    public int EmbedDim { get; }

    public MultiheadAttention(int embedDim, int heads, Rng rng)
    {
        if (heads < 1 || embedDim < 1 || embedDim % heads != 0)
            throw new ArgumentException($"MultiheadAttention: embed_dim {embedDim} must be a positive multiple of num_heads {heads}.");
        Heads = heads;
        EmbedDim = embedDim;
        InProjWeight = RegisterParameter("in_proj_weight", new Tensor(new Shape(3 * embedDim, embedDim)));
        Init.XavierUniform(InProjWeight, rng);
        InProjBias = RegisterParameter("in_proj_bias", new Tensor(new Shape(3 * embedDim)));
        OutProj = RegisterModule("out_proj", new Linear(embedDim, embedDim, rng));
        OutProj.Bias!.Span.Clear();
    }

    /// <summary>x [B, T, E], key mask [B, T] → [B, T, E].</summary>
    public Tensor Forward(Tensor x, Mask? keyMask) => Forward(x, keyMask, out _);

    /// <summary>x [B, T, E], key mask [B, T] → [B, T, E], with the attention weights [B, H, T, T] of this call (a temporary of its arena).</summary>
    public Tensor Forward(Tensor x, Mask? keyMask, out Tensor weights)
    {
        if (x.Rank != 3 || x.Shape[2] != EmbedDim) throw new ArgumentException($"MultiheadAttention: input must be [B, T, {EmbedDim}], got {x.Shape}.");
        int b = x.Shape[0], t = x.Shape[1], d = EmbedDim / Heads;
        var qkv = F.Linear(x, InProjWeight, InProjBias);                          // [B, T, 3E]
        var q = F.SplitHeads(qkv, 0, Heads, d);                                   // [B·H, T, d]
        var k = F.SplitHeads(qkv, EmbedDim, Heads, d);
        var v = F.SplitHeads(qkv, 2 * EmbedDim, Heads, d);
        var scores = F.MulScalar(F.MatMul(q, k, transB: true), 1f / MathF.Sqrt(d)); // [B·H, T, T]
        weights = F.MaskedSoftmax(F.Reshape(scores, new Shape(b, Heads, t, t)), keyMask);
        var ctx = F.MatMul(F.Reshape(weights, new Shape(b * Heads, t, t)), v);  // [B·H, T, d]
        return OutProj.Forward(F.MergeHeads(ctx, Heads));                          // [B, T, E]
    }
}
