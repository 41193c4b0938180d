using System.Globalization;
using System.Text;
using DeepInterest.Engine.IO;

namespace DeepInterest.Models.Training;

/// <summary>Writes the training history as <c>history.csv</c> and a hand-drawn SVG (<c>curves.svg</c>), atomically.</summary>
public static class HistoryWriter
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Columns: epoch, train_loss, val_auc, val_gauc, val_logloss, lr, seconds (+ monitor_auc, monitor_gauc, monitor_logloss when a monitored set was evaluated).</summary>
    public static string ToCsv(IReadOnlyList<EpochResult> history)
    {
        bool monitor = history.Any(r => r.Monitor is not null);
        var sb = new StringBuilder("epoch,train_loss,val_auc,val_gauc,val_logloss,lr,seconds" + (monitor ? ",monitor_auc,monitor_gauc,monitor_logloss" : "") + "\n");
        foreach (var r in history)
        {
            sb.Append(Inv, $"{r.Epoch},{r.TrainLoss:R},{r.Validation.Auc:R},{r.Validation.Gauc:R},{r.Validation.LogLoss:R},{(float)r.LearningRate:R},{r.Seconds:F3}");
            if (r.Monitor is { } m) sb.Append(Inv, $",{m.Auc:R},{m.Gauc:R},{m.LogLoss:R}");
            sb.Append('\n');
        }
        return sb.ToString();
    }

    public static void WriteCsv(string path, IReadOnlyList<EpochResult> history) => AtomicFile.WriteAllText(path, ToCsv(history));

    public static void WriteSvg(string path, IReadOnlyList<EpochResult> history) => AtomicFile.WriteAllText(path, ToSvg(history));

    /// <summary>Two panels: loss (train, validation log loss) and ranking (validation AUC, GAUC) per epoch.</summary>
    public static string ToSvg(IReadOnlyList<EpochResult> history)
    {
        const int W = 900, H = 360;
        var sb = new StringBuilder();
        sb.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        var epochs = new double[history.Count];
        var train = new double[history.Count];
        var vloss = new double[history.Count];
        var auc = new double[history.Count];
        var gauc = new double[history.Count];
        for (int i = 0; i < history.Count; i++)
        {
            epochs[i] = history[i].Epoch;
            train[i] = history[i].TrainLoss;
            vloss[i] = history[i].Validation.LogLoss;
            auc[i] = history[i].Validation.Auc;
            gauc[i] = history[i].Validation.Gauc;
        }
        Panel(sb, 0, "Loss", "loss", epochs, [("train loss", train, "#1f77b4"), ("val logloss", vloss, "#ff7f0e")]);
        Panel(sb, W / 2, "Ranking", "AUC", epochs, [("val AUC", auc, "#2ca02c"), ("val GAUC", gauc, "#d62728")]);
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static void Panel(StringBuilder sb, int x0, string title, string yLabel, double[] xs, (string Name, double[] Ys, string Color)[] series)
    {
        const int PW = 450, PH = 360, L = 70, R = 20, T = 40, B = 50;
        double plotW = PW - L - R, plotH = PH - T - B;
        double xmin = xs.Length > 0 ? xs[0] : 0, xmax = xs.Length > 0 ? xs[^1] : 1;
        if (xmax <= xmin) { xmin -= 0.5; xmax += 0.5; }
        double ymin = double.PositiveInfinity, ymax = double.NegativeInfinity;
        foreach (var s in series)
            foreach (var y in s.Ys)
                if (double.IsFinite(y)) { ymin = Math.Min(ymin, y); ymax = Math.Max(ymax, y); }
        if (!double.IsFinite(ymin)) { ymin = 0; ymax = 1; }
        if (ymax - ymin < 1e-12) { ymin -= 0.5; ymax += 0.5; }
        double pad = (ymax - ymin) * 0.05;
        ymin -= pad; ymax += pad;
        double X(double x) => x0 + L + (x - xmin) / (xmax - xmin) * plotW;
        double Y(double y) => T + (ymax - y) / (ymax - ymin) * plotH;

        sb.Append(Inv, $"<text x=\"{x0 + L + plotW / 2:F1}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{title}</text>\n");
        sb.Append(Inv, $"<rect x=\"{x0 + L}\" y=\"{T}\" width=\"{plotW:F1}\" height=\"{plotH:F1}\" fill=\"none\" stroke=\"#444\"/>\n");
        for (int k = 0; k <= 4; k++)
        {
            double v = ymin + (ymax - ymin) * k / 4;
            double y = Y(v);
            sb.Append(Inv, $"<line x1=\"{x0 + L - 4}\" y1=\"{y:F1}\" x2=\"{x0 + L + plotW:F1}\" y2=\"{y:F1}\" stroke=\"#ddd\"/>\n");
            sb.Append(Inv, $"<text x=\"{x0 + L - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{v:G4}</text>\n");
        }
        foreach (var e in xs)
        {
            double x = X(e);
            sb.Append(Inv, $"<line x1=\"{x:F1}\" y1=\"{T + plotH:F1}\" x2=\"{x:F1}\" y2=\"{T + plotH + 4:F1}\" stroke=\"#444\"/>\n");
            sb.Append(Inv, $"<text x=\"{x:F1}\" y=\"{T + plotH + 18:F1}\" text-anchor=\"middle\">{e:G}</text>\n");
        }
        sb.Append(Inv, $"<text x=\"{x0 + L + plotW / 2:F1}\" y=\"{PH - 12}\" text-anchor=\"middle\">epoch</text>\n");
        sb.Append(Inv, $"<text x=\"{x0 + 16}\" y=\"{T + plotH / 2:F1}\" text-anchor=\"middle\" transform=\"rotate(-90 {x0 + 16} {T + plotH / 2:F1})\">{yLabel}</text>\n");
        int li = 0;
        foreach (var (name, ys, color) in series)
        {
            var pts = new StringBuilder();
            for (int i = 0; i < xs.Length; i++)
                if (double.IsFinite(ys[i])) pts.Append(Inv, $"{X(xs[i]):F1},{Y(ys[i]):F1} ");
            sb.Append(Inv, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{pts.ToString().TrimEnd()}\"/>\n");
            for (int i = 0; i < xs.Length; i++)
                if (double.IsFinite(ys[i])) sb.Append(Inv, $"<circle cx=\"{X(xs[i]):F1}\" cy=\"{Y(ys[i]):F1}\" r=\"3\" fill=\"{color}\"/>\n");
            double ly = T + 12 + 16 * li;
            double lx = x0 + L + plotW - 110;
            sb.Append(Inv, $"<line x1=\"{lx:F1}\" y1=\"{ly:F1}\" x2=\"{lx + 18:F1}\" y2=\"{ly:F1}\" stroke=\"{color}\" stroke-width=\"2\"/>\n");
            sb.Append(Inv, $"<text x=\"{lx + 24:F1}\" y=\"{ly + 4:F1}\">{name}</text>\n");
            li++;
        }
    }
}
