"""A deliberately plain, loop-by-loop transcription of the official ActivityNet detection evaluator.

Follows activitynet/ActivityNet ``Evaluation/eval_detection.py`` (``ANETdetection``,
``compute_average_precision_detection``) and ``Evaluation/utils.py`` (``interpolated_prec_rec``,
``segment_iou``) step by step, with Python lists instead of pandas and no vectorisation, so that it
shares no code with ``iwo_tf.evaluation``. The official ``argsort()[::-1]`` is written as a stable
ascending sort reversed (``sorted`` is stable), which is what it computes for ties whenever numpy's
sort is stable. Labels not in the ground truth are skipped (the official importer raises KeyError).
"""
import math


def _tiou(pred, gt):
    tt1 = max(pred[0], gt[0])
    tt2 = min(pred[1], gt[1])
    inter = tt2 - tt1
    if inter < 0:
        inter = 0.0
    union = (gt[1] - gt[0]) + (pred[1] - pred[0]) - inter
    if union == 0:
        return math.nan
    return inter / union


def _interpolated_prec_rec(prec, rec):
    mprec = [0.0] + list(prec) + [0.0]
    mrec = [0.0] + list(rec) + [1.0]
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    ap = 0.0
    for i in range(1, len(mrec)):
        if mrec[i] != mrec[i - 1]:
            ap += (mrec[i] - mrec[i - 1]) * mprec[i]
    return ap


def _reverse_argsort(values):
    # stable ascending argsort, reversed; NaN sorts after everything ascending (numpy), so first here
    key = lambda i: (1, 0.0) if math.isnan(values[i]) else (0, values[i])
    return list(reversed(sorted(range(len(values)), key=key)))


def _average_precision(gt_rows, pred_rows, thresholds):
    """gt_rows: [(video, start, end)]; pred_rows: [(video, start, end, score)]; both in file order."""
    if not pred_rows:
        return [0.0] * len(thresholds)
    npos = float(len(gt_rows))
    lock = [[-1] * len(gt_rows) for _ in thresholds]
    order = _reverse_argsort([p[3] for p in pred_rows])
    preds = [pred_rows[i] for i in order]
    tp = [[0] * len(preds) for _ in thresholds]
    fp = [[0] * len(preds) for _ in thresholds]
    for idx, pred in enumerate(preds):
        this_gt = [j for j, g in enumerate(gt_rows) if g[0] == pred[0]]  # class-level indices
        if not this_gt:
            for t in range(len(thresholds)):
                fp[t][idx] = 1
            continue
        tious = [_tiou((pred[1], pred[2]), (gt_rows[j][1], gt_rows[j][2])) for j in this_gt]
        ranked = _reverse_argsort(tious)
        for t, thr in enumerate(thresholds):
            for jdx in ranked:
                if tious[jdx] < thr:
                    fp[t][idx] = 1
                    break
                if lock[t][this_gt[jdx]] >= 0:
                    continue
                tp[t][idx] = 1
                lock[t][this_gt[jdx]] = idx
                break
            if fp[t][idx] == 0 and tp[t][idx] == 0:
                fp[t][idx] = 1
    aps = []
    for t in range(len(thresholds)):
        tps = fps = 0
        prec, rec = [], []
        for idx in range(len(preds)):
            tps += tp[t][idx]
            fps += fp[t][idx]
            rec.append(tps / npos)
            prec.append(tps / (tps + fps))
        aps.append(_interpolated_prec_rec(prec, rec))
    return aps


def reference_detection_map(ground_truth, predictions, subset, thresholds):
    """Returns (class_names, ap[class][threshold], mAP[threshold], average_mAP)."""
    activity_index = {}
    gt_rows = []
    for video, entry in ground_truth["database"].items():
        if subset is not None and entry["subset"] != subset:
            continue
        for ann in entry["annotations"]:
            if ann["label"] not in activity_index:
                activity_index[ann["label"]] = len(activity_index)
            gt_rows.append((video, float(ann["segment"][0]), float(ann["segment"][1]), ann["label"]))
    pred_rows = []
    for video, entries in predictions["results"].items():
        for r in entries:
            if r["label"] not in activity_index:
                continue
            pred_rows.append((video, float(r["segment"][0]), float(r["segment"][1]), float(r["score"]), r["label"]))
    names = list(activity_index)
    ap = []
    for name in names:
        g = [(v, s, e) for v, s, e, l in gt_rows if l == name]
        p = [(v, s, e, sc) for v, s, e, sc, l in pred_rows if l == name]
        ap.append(_average_precision(g, p, thresholds))
    m_ap = [sum(ap[c][t] for c in range(len(names))) / len(names) for t in range(len(thresholds))]
    return names, ap, m_ap, sum(m_ap) / len(m_ap)
