using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using DeepInterest.Engine.IO;
using DeepInterest.Models;
using DeepInterest.Models.Networks;
using Spectre.Console;

namespace DeepInterest.Cli.Commands;

/// <summary>
/// <c>explain --model DIR --data FILE --row N --out FILE.svg</c>: the attention weight of every
/// history item for one prediction (in the style of the DIN paper's Fig. 5), as a bar chart and as text;
/// for DSIN, the activation of every session and each behaviour's share within the top session.
/// Items are named by their raw ids, with titles where the model's serving spec has them
/// (MovieLens); the data is read as by <c>predict</c> (<see cref="ScoringModel.ReadRaw"/>).
/// </summary>
public static class ExplainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder (DIR/model from train)", Required = true };
        var data = new Option<string>("--data") { Description = "Rows in the model's raw layout (behaviour log user,item,time[,label]; tutorial CSV for movielens_seed) or a prepared .safetensors split", Required = true };
        var row = new Option<int>("--row") { Description = "0-based data row to explain", DefaultValueFactory = _ => 0 };
        var outFile = new Option<string>("--out") { Description = "SVG file to write", Required = true };
        var session = new Option<int>("--session") { Description = "DSIN: 1-based session (oldest = 1) whose behaviours to show; 0 = the most activated one", DefaultValueFactory = _ => 0 };
        var cmd = new Command("explain", "Attention weight of every history item for one prediction (SVG + text)") { model, data, row, outFile, session };
        cmd.SetAction(p => Run(p.GetValue(model)!, p.GetValue(data)!, p.GetValue(row), p.GetValue(outFile)!, p.GetValue(session)));
        return cmd;
    }

    private static int Run(string modelDir, string csv, int rowIndex, string outFile, int session)
    {
        var scorer = ScoringModel.Open(modelDir);
        var raw = scorer.ReadRaw(csv);
        var data = raw.Data;
        if (rowIndex < 0 || rowIndex >= data.Count) throw new ArgumentException($"--row {rowIndex} is outside the {data.Count} rows of {csv}.");
        var x = scorer.Explain(data, rowIndex);
        if (x.Attention.Count == 0 && x.Sessions.Count == 0)
            throw new ArgumentException($"{modelDir}: a {scorer.Model.Kind} model has no attention to explain (use a DIN, DIEN or DSIN model).");
        // Raw item ids (and titles) from the serving spec; a model without one (synthetic data) shows encoded ids.
        var spec = scorer.Spec;
        Func<int, string> Names(string feature) => id => spec?.Describe(feature, id) ?? $"#{id}";
        var rowName = $"row {rowIndex} (user {raw.Users[rowIndex]}, item {(spec?.ItemName(raw.Items[rowIndex]) is { } t ? $"{raw.Items[rowIndex]} {t}" : raw.Items[rowIndex])})";
        // Sections of the picture: (title, labels, weights).
        var sections = new List<(string Title, string[] Labels, float[] Weights)>();
        foreach (var g in x.Attention)
            sections.Add(($"attention of group '{g.Group}' over {g.History} (oldest first)", g.Ids.Select(Names(g.History)).ToArray(), g.Weights));
        foreach (var g in x.Sessions)
        {
            var labels = g.Ids.Select((ids, k) => $"session {k + 1} ({ids.Length} items)").ToArray();
            sections.Add(($"session group '{g.Group}': activation over sessions from the extractor (oldest first)", labels, g.ExtractorWeights));
            if (g.InteractingWeights is { } hw)
                sections.Add(($"session group '{g.Group}': activation over sessions from the Bi-LSTM", labels, hw));
            if (g.Ids.Length == 0) continue;
            if (session < 0 || session > g.Ids.Length) throw new ArgumentException($"--session {session}: row {rowIndex} has {g.Ids.Length} session(s) in group '{g.Group}' (1 = oldest)");
            int top = session > 0 ? session - 1 : Array.IndexOf(g.ExtractorWeights, g.ExtractorWeights.Max());
            sections.Add(($"session {top + 1}{(session > 0 ? "" : " (highest activation)")}: each behaviour's share of the session interest", g.Ids[top].Select(Names(g.Sessions)).ToArray(), g.ItemWeights[top]));
        }
        if (sections.Count == 0) throw new ArgumentException($"{modelDir}: the model has no attention groups or session groups to explain.");
        foreach (var (title, labels, weights) in sections)
        {
            var table = new Table().Title($"{Markup.Escape(rowName)}: p(click) = {x.Probability:F4} — {Markup.Escape(title)}").AddColumns("position", "item", "weight");
            for (int i = 0; i < labels.Length; i++) table.AddRow(i.ToString(), Markup.Escape(labels[i]), $"{weights[i]:F4}");
            AnsiConsole.Write(table);
        }
        var sb = new StringBuilder();
        foreach (var (title, labels, weights) in sections) sb.Append(Svg(title, labels, weights, rowName, x.Probability));
        AtomicFile.WriteAllText(outFile, Wrap(sb.ToString(), sections.Sum(g => g.Labels.Length * 22 + 80)));
        AnsiConsole.MarkupLine($"wrote {Markup.Escape(outFile)}");
        return 0;
    }

    private static string Svg(string title, string[] labels, float[] w, string row, float prob)
    {
        var inv = CultureInfo.InvariantCulture;
        float max = Math.Max(1e-6f, w.Length == 0 ? 1f : w.Max(Math.Abs));
        var sb = new StringBuilder();
        sb.Append(inv, $"<g><text x=\"10\" y=\"{{Y}}\" font-weight=\"bold\">{WebUtility.HtmlEncode(row)}, p(click) = {prob:F4}: {WebUtility.HtmlEncode(title)}</text>\n");
        for (int i = 0; i < w.Length; i++)
        {
            float width = 500f * Math.Abs(w[i]) / max;
            // Titles can be long: the label column is 250 px, so cut at 40 characters (the table printed to the console keeps them whole).
            var label = labels[i].Length > 40 ? labels[i][..39] + "…" : labels[i];
            sb.Append(inv, $"<text x=\"10\" y=\"{{Y{i}}}\" font-size=\"12\"><title>{WebUtility.HtmlEncode(labels[i])}</title>{WebUtility.HtmlEncode(label)}</text>");
            sb.Append(inv, $"<rect x=\"260\" y=\"{{R{i}}}\" width=\"{width:F1}\" height=\"16\" fill=\"{(w[i] >= 0 ? "#3b7dd8" : "#d8573b")}\"/>");
            sb.Append(inv, $"<text x=\"{265 + width:F1}\" y=\"{{Y{i}}}\" font-size=\"12\">{w[i]:F4}</text>\n");
        }
        return sb.Append("</g>\n").ToString();
    }

    private static string Wrap(string body, int height)
    {
        // Lay the groups out vertically: replace the placeholders with absolute y coordinates.
        var sb = new StringBuilder();
        int y = 24;
        foreach (var part in body.Split("<g>", StringSplitOptions.RemoveEmptyEntries))
        {
            var p = part.Replace("{Y}", y.ToString(CultureInfo.InvariantCulture));
            y += 16;
            for (int i = 0; p.Contains($"{{Y{i}}}"); i++, y += 22)
                p = p.Replace($"{{Y{i}}}", (y + 13).ToString(CultureInfo.InvariantCulture)).Replace($"{{R{i}}}", y.ToString(CultureInfo.InvariantCulture));
            y += 30;
            sb.Append("<g>").Append(p);
        }
        return $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"860\" height=\"{Math.Max(y, height)}\" font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{sb}</svg>\n";
    }
}
