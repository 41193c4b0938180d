namespace DeepInterest.Engine.Modules;

/// <summary>
/// Embedding table [vocab, dim] (key <c>weight</c>) with padding index 0: row 0 is zero and never
/// trained. Initialized N(0, 1) like <c>torch.nn.Embedding</c>, or N(0, std²) when given.
/// With sparse gradients the gradient holds only the rows of the batch.
/// </summary>
public sealed class Embedding : Module
{
    public Tensor Weight { get; }
    public int Vocab { get; }
    public int Dim { get; }

    public Embedding(int vocab, int dim, Rng rng, bool sparseGrad = true, float std = 1f)
    {
        if (vocab < 1 || dim < 1) throw new ArgumentException($"Embedding needs vocab ≥ 1 and dim ≥ 1, got {vocab} × {dim}.");
        Vocab = vocab;
        Dim = dim;
        Weight = RegisterParameter("weight", new Tensor(new Shape(vocab, dim)));
        Weight.HasSparseGrad = sparseGrad;
        Init.Normal(Weight, 0f, std, rng);
        Weight.Span[..dim].Clear();
    }

    /// <summary>ids [...] → [..., dim].</summary>
    public Tensor Forward(IntTensor ids) => F.Embedding(Weight, ids);
}
