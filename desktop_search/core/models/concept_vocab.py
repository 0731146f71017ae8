"""The readable names of the 1,000 ImageNet classes the image encoder's own classifier knows.

The concept bridge (:mod:`.concepts`) compares a query with the names of the classes a photo shows,
so the names must be the words people type: "cellphone" and "mobile phone", "sofa" and "couch",
"dog" for every one of the 120 dog breeds. This module builds that vocabulary once, at training
time, from three sources, and :func:`build_vocabulary` returns it as plain data that is stored with
the model's weights (the app never imports this module's sources):

- the curated class names of OpenCLIP's zero-shot metadata (``open_clip.zero_shot_metadata``, MIT);
- WordNet's lemmas for each synset (as shipped in timm's ``imagenet_synset_to_lemma.txt``,
  Apache-2.0; Latin binomials dropped);
- our own everyday synonyms and plurals (:data:`EVERYDAY`) and family words (:data:`FAMILIES`:
  every dog breed is also "a dog", every cat breed "a cat").
"""

from __future__ import annotations

import re
from pathlib import Path

#: (first, last, word): the classes first..last (inclusive, ImageNet-1k order) are also a ``word``
FAMILIES: tuple[tuple[int, int, str], ...] = (
    (0, 6, "fish"), (2, 4, "shark"), (7, 24, "bird"), (7, 8, "chicken"), (21, 24, "bird of prey"),
    (25, 29, "salamander"), (30, 32, "frog"), (33, 37, "turtle"), (38, 48, "lizard"),
    (49, 50, "crocodile"), (52, 68, "snake"), (72, 77, "spider"), (80, 100, "bird"),
    (87, 90, "parrot"), (97, 99, "water bird"), (118, 125, "crab"), (122, 124, "lobster"),
    (127, 146, "bird"), (147, 149, "whale"), (151, 268, "dog"), (269, 272, "wolf"),
    (277, 280, "fox"), (281, 285, "cat"), (286, 293, "big cat"), (294, 297, "bear"),
    (300, 326, "insect"), (300, 307, "beetle"), (321, 326, "butterfly"), (330, 332, "rabbit"),
    (341, 343, "pig"), (345, 347, "cattle"), (348, 349, "sheep"), (350, 353, "antelope"),
    (365, 368, "ape"), (369, 382, "monkey"), (385, 386, "elephant"), (101, 101, "elephant"),
    (389, 397, "fish"),
)

#: class index → extra words people use for it (synonyms, plurals, everyday names)
EVERYDAY: dict[int, tuple[str, ...]] = {
    7: ("rooster", "chicken"), 8: ("hen", "chicken"), 9: ("ostrich",), 22: ("eagle",), 24: ("owl",),
    97: ("duck", "ducks"), 99: ("goose", "geese"), 100: ("swan",), 130: ("flamingo", "flamingos"),
    144: ("pelican",), 145: ("penguin", "penguins"), 150: ("sea lion", "seal"), 207: ("golden retriever",),
    208: ("labrador",), 235: ("german shepherd",), 251: ("dalmatian",), 254: ("pug",), 281: ("tabby cat", "kitten"),
    282: ("kitten",), 285: ("kitten",), 291: ("lion", "lions"), 292: ("tiger", "tigers"),
    294: ("brown bear", "grizzly bear"), 296: ("polar bear",), 301: ("ladybird",), 309: ("bee", "honeybee"),
    330: ("bunny",), 332: ("bunny",), 333: ("hamster",), 335: ("squirrel",), 338: ("guinea pig",),
    339: ("horse", "horses", "pony"), 340: ("zebra", "zebras"), 341: ("pig", "pigs", "hog"), 344: ("hippo",),
    345: ("cow", "cows", "cattle", "bull"), 346: ("buffalo",), 347: ("bison", "buffalo"),
    348: ("sheep", "lamb"), 349: ("sheep",), 354: ("camel", "camels"), 355: ("llama", "alpaca"),
    366: ("gorilla",), 367: ("chimp",), 385: ("elephant", "elephants"), 386: ("elephant", "elephants"),
    101: ("elephant",), 388: ("panda",), 393: ("clownfish", "nemo"),
    401: ("accordion",), 402: ("guitar",), 404: ("airplane", "plane", "aeroplane", "jet", "airliner"),
    407: ("ambulance",), 409: ("clock",), 411: ("apron",), 412: ("trash can", "garbage can", "bin"),
    414: ("backpack", "rucksack"), 415: ("bakery",), 417: ("balloon", "balloons"), 420: ("banjo",),
    425: ("barn",), 428: ("wheelbarrow",), 429: ("baseball",), 430: ("basketball",),
    434: ("towel",), 435: ("bathtub", "bath"), 436: ("car",), 437: ("lighthouse",),
    441: ("beer", "glass of beer"), 444: ("bicycle", "bike", "tandem"), 445: ("bikini", "swimsuit"),
    447: ("binoculars",), 453: ("bookshelf", "books"), 454: ("bookshop", "books"), 457: ("bow tie",),
    463: ("bucket", "pail"), 466: ("train", "bullet train", "high speed train"), 468: ("taxi", "cab", "car"),
    470: ("candle", "candles"), 472: ("canoe", "boat"), 476: ("carousel", "merry-go-round"),
    478: ("cardboard box", "box"), 483: ("castle",), 484: ("catamaran", "boat"), 486: ("cello",),
    487: ("cellphone", "cell phone", "smartphone", "phone", "mobile phone"), 497: ("church",),
    504: ("coffee mug", "mug", "coffee"), 505: ("coffee machine",), 508: ("keyboard",), 510: ("ship",),
    511: ("convertible", "car"), 514: ("cowboy boots",), 515: ("cowboy hat",), 517: ("crane",),
    518: ("helmet",), 520: ("crib", "cot"), 526: ("desk",), 527: ("computer", "desktop computer"),
    528: ("telephone", "phone"), 530: ("clock",), 532: ("dining table", "table"), 534: ("dishwasher",),
    536: ("dock", "pier"), 541: ("drum", "drums"), 546: ("electric guitar", "guitar"),
    547: ("train", "locomotive"), 550: ("espresso machine", "coffee machine"), 555: ("fire engine",),
    559: ("chair",), 560: ("football helmet", "american football"), 562: ("fountain",),
    564: ("bed", "bedroom"), 565: ("train", "freight train"), 567: ("frying pan", "pan"),
    569: ("garbage truck", "truck"), 574: ("golf",), 575: ("golf cart",), 576: ("gondola",),
    578: ("gown", "dress"), 579: ("piano",), 580: ("greenhouse",), 582: ("grocery store", "supermarket"),
    589: ("hair dryer",), 603: ("horse carriage",), 607: ("jack-o'-lantern", "halloween pumpkin"),
    608: ("jeans",), 609: ("jeep", "car"), 610: ("t-shirt", "tee shirt"), 612: ("rickshaw",),
    614: ("kimono",), 617: ("lab coat",), 620: ("laptop", "notebook"), 621: ("lawn mower",),
    624: ("library", "books"), 625: ("lifeboat", "boat"), 627: ("limousine", "limo", "car"),
    628: ("cruise ship", "ship"), 632: ("loudspeaker", "speaker"), 637: ("mailbox", "letterbox"),
    639: ("swimsuit", "bathing suit"), 643: ("mask",), 650: ("microphone", "mic"), 651: ("microwave",),
    652: ("uniform",), 654: ("minibus", "bus"), 656: ("minivan", "van", "car"), 659: ("bowl",),
    663: ("monastery",), 664: ("monitor", "screen"), 665: ("moped", "scooter"), 667: ("graduation",),
    668: ("mosque",), 670: ("scooter", "vespa"), 671: ("mountain bike", "bicycle", "bike"),
    672: ("tent", "camping"), 673: ("mouse",), 675: ("moving van", "truck"), 679: ("necklace",),
    681: ("laptop", "notebook computer"), 687: ("organ",), 693: ("paddle",), 697: ("pajamas", "pyjamas"),
    698: ("palace",), 701: ("parachute",), 703: ("bench", "park bench"), 704: ("parking meter",),
    705: ("train carriage", "train"), 706: ("patio", "terrace"), 707: ("payphone", "phone booth"),
    717: ("pickup truck", "truck"), 718: ("pier", "jetty"), 721: ("pillow", "cushion"),
    722: ("ping pong", "table tennis"), 724: ("pirate ship", "ship"), 734: ("police van", "police car"),
    736: ("pool table", "billiards"), 737: ("soda bottle", "bottle"), 738: ("flower pot", "potted plant"),
    742: ("printer",), 745: ("projector",), 746: ("ice hockey", "hockey"), 748: ("handbag", "purse"),
    750: ("quilt", "blanket", "bed"), 751: ("race car", "racing car"), 752: ("tennis racket", "racket"),
    754: ("radio",), 757: ("camper", "motorhome", "rv"), 759: ("camera",), 760: ("fridge", "refrigerator"),
    761: ("remote control", "remote"), 762: ("restaurant",), 765: ("rocking chair", "chair"),
    768: ("rugby",), 770: ("sneakers", "running shoes", "shoes"), 774: ("sandals",), 776: ("saxophone", "sax"),
    778: ("scale",), 779: ("school bus", "bus"), 780: ("sailing ship",), 781: ("scoreboard",),
    786: ("sewing machine",), 791: ("shopping cart", "trolley"), 792: ("shovel",), 795: ("ski", "skis", "skiing"),
    797: ("sleeping bag",), 802: ("snowmobile",), 803: ("snow plow",), 805: ("soccer ball", "football", "soccer"),
    806: ("socks",), 808: ("sombrero",), 809: ("soup", "bowl of soup"), 812: ("space shuttle",),
    814: ("speedboat", "motorboat", "boat"), 817: ("sports car", "car"), 819: ("stage", "concert"),
    820: ("steam train", "train", "locomotive"), 821: ("bridge",), 824: ("scarf",), 825: ("stone wall", "wall"),
    827: ("stove", "oven", "cooker"), 829: ("tram", "streetcar"), 831: ("sofa", "couch", "living room"),
    833: ("submarine",), 834: ("suit", "business suit"), 836: ("sunglasses",), 837: ("sunglasses",),
    839: ("suspension bridge", "bridge"), 841: ("sweatshirt", "hoodie"), 842: ("swimming trunks", "shorts"),
    843: ("swing", "playground swing"), 846: ("lamp",), 847: ("tank",), 849: ("teapot", "tea"),
    850: ("teddy bear", "stuffed animal", "teddy"), 851: ("television", "tv", "tv set"),
    852: ("tennis ball", "tennis"), 857: ("throne",), 859: ("toaster",), 861: ("toilet",),
    864: ("tow truck", "truck"), 865: ("toy store", "toys"), 866: ("tractor",), 867: ("truck", "lorry"),
    868: ("tray",), 870: ("tricycle",), 874: ("trolleybus", "bus"), 876: ("hot tub", "jacuzzi"),
    879: ("umbrella", "umbrellas"), 881: ("piano",), 882: ("vacuum cleaner", "hoover"), 883: ("vase", "flowers"),
    886: ("vending machine",), 889: ("violin", "fiddle"), 890: ("volleyball",), 891: ("waffle",),
    892: ("clock", "wall clock"), 893: ("wallet",), 894: ("wardrobe", "closet"), 895: ("fighter jet", "airplane"),
    896: ("sink", "washbasin", "bathroom"), 897: ("washing machine",), 898: ("water bottle", "bottle"),
    907: ("wine", "wine bottle", "bottle of wine"), 908: ("airplane", "plane wing"), 909: ("wok",),
    912: ("fence",), 914: ("sailboat", "sailing boat", "boat"), 915: ("yurt", "tent"),
    916: ("website", "screenshot"), 917: ("comic book", "comics"), 919: ("street sign", "road sign", "sign"),
    920: ("traffic light", "traffic lights"), 922: ("menu",), 923: ("plate", "plate of food", "dish"),
    924: ("guacamole",), 925: ("soup",), 927: ("dessert",), 928: ("ice cream",), 929: ("ice lolly",),
    930: ("bread", "baguette"), 931: ("bagel",), 932: ("pretzel",), 933: ("burger", "hamburger", "cheeseburger"),
    934: ("hot dog", "sandwich"), 935: ("mashed potatoes",), 936: ("cabbage", "vegetables"),
    937: ("broccoli", "vegetables"), 938: ("cauliflower", "vegetables"), 943: ("cucumber",),
    945: ("pepper", "peppers"), 947: ("mushroom", "mushrooms"), 948: ("apple", "apples"),
    949: ("strawberry", "strawberries"), 950: ("orange", "oranges", "fruit"), 951: ("lemon", "lemons"),
    953: ("pineapple",), 954: ("banana", "bananas", "fruit"), 959: ("pasta", "spaghetti"),
    960: ("chocolate",), 961: ("dough", "baking"), 963: ("pizza", "pizzas", "slice of pizza"),
    965: ("burrito",), 966: ("red wine", "wine", "glass of wine"), 967: ("espresso", "coffee", "cup of coffee"),
    968: ("tea cup", "cup of tea", "cup"), 970: ("mountain", "mountains"), 972: ("cliff",),
    973: ("coral reef", "underwater"), 975: ("lake", "lakeside"), 977: ("sandbar",),
    978: ("beach", "seaside", "seashore"), 979: ("valley",), 980: ("volcano",),
    981: ("baseball", "baseball player"), 982: ("wedding", "groom"), 983: ("scuba diving", "diver", "underwater"),
    985: ("daisy", "flowers"), 987: ("corn",), 999: ("toilet paper",),
}

_LATIN = re.compile(r"^[A-Z][a-z]+ [a-z]+(?:us|a|is|um|ae|i|ii|ensis|oides|atus|ata|ix|ops|ax|es|on)$")


def wordnet_lemmas(lemma_file: Path, synset_file: Path) -> list[list[str]]:
    """WordNet's lemma names for each of the 1,000 classes, in class order, Latin names dropped."""
    lemmas = dict(line.split("\t", 1) for line in lemma_file.read_text(encoding="utf-8").splitlines() if "\t" in line)
    out = []
    for wnid in synset_file.read_text(encoding="utf-8").split():
        words = [w.strip() for w in lemmas[wnid].split(",")]
        out.append([w for w in words if w and not _LATIN.match(w)])
    return out


def build_vocabulary(names: list[str], lemmas: list[list[str]] | None = None) -> list[list[str]]:
    """Each class's aliases, the main name first, lower case, without repeats."""
    if len(names) != 1000:
        raise ValueError(f"expected the 1,000 ImageNet class names, got {len(names)}")
    families: dict[int, list[str]] = {}
    for first, last, word in FAMILIES:
        for i in range(first, last + 1):
            families.setdefault(i, []).append(word)
    vocab = []
    for i, name in enumerate(names):
        aliases = [name, *(lemmas[i] if lemmas else []), *EVERYDAY.get(i, ()), *families.get(i, [])]
        seen: dict[str, None] = {}
        for a in aliases:
            a = re.sub(r"\s*\(.*?\)", "", a).replace(" or ", " / ").strip().lower()
            for part in a.split(" / "):
                if part:
                    seen.setdefault(part.strip(), None)
        vocab.append(list(seen))
    return vocab


def default_vocabulary() -> list[list[str]]:
    """The vocabulary from the sources installed with the development extras (open_clip, timm)."""
    import timm
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    info = Path(timm.__file__).parent / "data" / "_info"
    lemmas = wordnet_lemmas(info / "imagenet_synset_to_lemma.txt", info / "imagenet_synsets.txt")
    return build_vocabulary(list(IMAGENET_CLASSNAMES), lemmas)
