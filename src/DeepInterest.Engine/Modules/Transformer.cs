namespace DeepInterest.Engine.Modules;

/// <summary>
/// A post-norm Transformer encoder layer with nn.TransformerEncoderLayer's keys (<c>self_attn.*</c>,
/// <c>linear1.*</c>, <c>linear2.*</c>, <c>norm1.*</c>, <c>norm2.*</c>; ReLU, batch first):
/// y = LN₁(x + MHA(x)), out = LN₂(y + W₂·relu(W₁·y + b₁) + b₂). DSIN's session interest extractor
/// (§4.2: "residual connections and layer normalization successively") uses it per session.
/// </summary>
public sealed class TransformerEncoderLayer : Module
{
    public MultiheadAttention SelfAttn { get; }
    public Linear Linear1 { get; }
    public Linear Linear2 { get; }
    public LayerNorm Norm1 { get; }
    public LayerNorm Norm2 { get; }
    private readonly Dropout? _dropout;

    public TransformerEncoderLayer(int dModel, int heads, int feedForward, Rng rng, float dropout = 0f)
    {
        if (feedForward < 1) throw new ArgumentException($"TransformerEncoderLayer: dim_feedforward must be positive, got {feedForward}.");
        SelfAttn = RegisterModule("self_attn", new MultiheadAttention(dModel, heads, rng));
        Linear1 = RegisterModule("linear1", new Linear(dModel, feedForward, rng));
        Linear2 = RegisterModule("linear2", new Linear(feedForward, dModel, rng));
        Norm1 = RegisterModule("norm1", new LayerNorm(dModel));
        Norm2 = RegisterModule("norm2", new LayerNorm(dModel));
        if (dropout > 0) _dropout = RegisterModule("dropout", new Dropout(dropout, rng));
    }

    /// <summary>x [N, T, E] with key mask [N, T] (true = real) → [N, T, E].</summary>
    public Tensor Forward(Tensor x, Mask? keyMask) => Forward(x, keyMask, out _);

    /// <summary>x [N, T, E] with key mask [N, T] → [N, T, E], with this call's self-attention weights [N, H, T, T].</summary>
    public Tensor Forward(Tensor x, Mask? keyMask, out Tensor attention)
    {
        var a = SelfAttn.Forward(x, keyMask, out attention);
        if (_dropout is not null) a = _dropout.Forward(a);
        var y = Norm1.Forward(F.Add(x, a));
        var f = Linear2.Forward(F.Relu(Linear1.Forward(y)));
        if (_dropout is not null) f = _dropout.Forward(f);
        return Norm2.Forward(F.Add(y, f));
    }
}
