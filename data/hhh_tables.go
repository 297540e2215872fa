package data

// The built-in fact tables of the HHH corpus. Each table is a fixed slice, so
// drawing from it with a seeded generator is reproducible.

// pair is a question word and its answer.
type pair struct{ q, a string }

// hhhWords are common lowercase words for the letter and spelling families:
// ASCII letters only, 3 to 9 letters, no duplicates.
var hhhWords = []string{
	"apple", "banana", "cherry", "garden", "planet", "window", "river", "mountain",
	"pencil", "rabbit", "orange", "summer", "winter", "castle", "bridge", "forest",
	"candle", "rocket", "tiger", "lemon", "guitar", "silver", "market", "jacket",
	"pocket", "mirror", "button", "dragon", "island", "kitten", "ladder", "magnet",
	"needle", "oyster", "parrot", "puzzle", "ribbon", "saddle", "tunnel", "violin",
	"walnut", "yellow", "zipper", "anchor", "basket", "carpet", "doctor", "engine",
	"farmer", "goblin", "hammer", "insect", "jungle", "kettle", "lizard", "meadow",
	"napkin", "orchid", "pepper", "quartz", "rescue", "spider", "turtle", "umpire",
	"velvet", "wizard", "cat", "dog", "sun", "map", "cup", "hat", "pen", "box",
	"fish", "bird", "tree", "star", "moon", "rain", "snow", "wind", "lamp", "door",
	"book", "milk", "bread", "chair", "table", "house", "horse", "mouse", "train",
	"cloud", "stone", "water", "light", "night", "music", "paper", "glass", "honey",
	"sugar", "salt", "truck", "boat", "shoe", "sock", "ring", "bell", "cake", "pizza",
	"coffee", "butter", "flower", "letter", "number", "school", "friend", "people",
	"animal", "yogurt", "tomato", "potato", "cookie", "pillow", "blanket", "kitchen",
	"library", "teacher", "holiday", "picture", "weather", "village", "balloon",
	"penguin", "chicken", "dolphin", "pumpkin", "rainbow", "sandwich", "elephant",
	"umbrella", "dinosaur", "computer", "mushroom", "treasure", "keyboard", "airplane",
	"strawberry", "chocolate", "butterfly", "mississippi", "banner", "coconut", "noodle",
	"bubble", "letters", "pepperoni", "tennis", "balloons", "committee", "raccoon",
}

// hhhCapitals maps countries to their capitals.
var hhhCapitals = []pair{
	{"France", "Paris"}, {"Germany", "Berlin"}, {"Italy", "Rome"}, {"Spain", "Madrid"},
	{"Portugal", "Lisbon"}, {"the United Kingdom", "London"}, {"Ireland", "Dublin"},
	{"the Netherlands", "Amsterdam"}, {"Belgium", "Brussels"}, {"Switzerland", "Bern"},
	{"Austria", "Vienna"}, {"Poland", "Warsaw"}, {"Hungary", "Budapest"}, {"Greece", "Athens"},
	{"Sweden", "Stockholm"}, {"Norway", "Oslo"}, {"Denmark", "Copenhagen"}, {"Finland", "Helsinki"},
	{"Iceland", "Reykjavik"}, {"Russia", "Moscow"}, {"Ukraine", "Kyiv"}, {"Romania", "Bucharest"},
	{"Bulgaria", "Sofia"}, {"Serbia", "Belgrade"}, {"Croatia", "Zagreb"}, {"Turkey", "Ankara"},
	{"Egypt", "Cairo"}, {"Kenya", "Nairobi"}, {"Nigeria", "Abuja"}, {"Ghana", "Accra"},
	{"Ethiopia", "Addis Ababa"}, {"Morocco", "Rabat"}, {"Senegal", "Dakar"}, {"China", "Beijing"},
	{"Japan", "Tokyo"}, {"South Korea", "Seoul"}, {"India", "New Delhi"}, {"Pakistan", "Islamabad"},
	{"Bangladesh", "Dhaka"}, {"Thailand", "Bangkok"}, {"Vietnam", "Hanoi"}, {"Indonesia", "Jakarta"},
	{"the Philippines", "Manila"}, {"Malaysia", "Kuala Lumpur"}, {"Iran", "Tehran"}, {"Iraq", "Baghdad"},
	{"Saudi Arabia", "Riyadh"}, {"Afghanistan", "Kabul"}, {"Nepal", "Kathmandu"}, {"Australia", "Canberra"},
	{"New Zealand", "Wellington"}, {"Canada", "Ottawa"}, {"the United States", "Washington"},
	{"Mexico", "Mexico City"}, {"Cuba", "Havana"}, {"Brazil", "Brasilia"}, {"Argentina", "Buenos Aires"},
	{"Chile", "Santiago"}, {"Peru", "Lima"}, {"Colombia", "Bogota"}, {"Venezuela", "Caracas"},
	{"Jamaica", "Kingston"}, {"Qatar", "Doha"}, {"Mongolia", "Ulaanbaatar"},
}

// hhhElements maps element names to their chemical symbols.
var hhhElements = []pair{
	{"hydrogen", "H"}, {"helium", "He"}, {"lithium", "Li"}, {"boron", "B"}, {"carbon", "C"},
	{"nitrogen", "N"}, {"oxygen", "O"}, {"fluorine", "F"}, {"neon", "Ne"}, {"sodium", "Na"},
	{"magnesium", "Mg"}, {"aluminum", "Al"}, {"silicon", "Si"}, {"phosphorus", "P"}, {"sulfur", "S"},
	{"chlorine", "Cl"}, {"argon", "Ar"}, {"potassium", "K"}, {"calcium", "Ca"}, {"titanium", "Ti"},
	{"chromium", "Cr"}, {"manganese", "Mn"}, {"iron", "Fe"}, {"cobalt", "Co"}, {"nickel", "Ni"},
	{"copper", "Cu"}, {"zinc", "Zn"}, {"silver", "Ag"}, {"tin", "Sn"}, {"iodine", "I"},
	{"platinum", "Pt"}, {"gold", "Au"}, {"mercury", "Hg"}, {"lead", "Pb"}, {"uranium", "U"},
}

// hhhAnimalSounds maps animals to the one sound word the corpus teaches.
var hhhAnimalSounds = []pair{
	{"cow", "moo"}, {"dog", "woof"}, {"cat", "meow"}, {"sheep", "baa"}, {"pig", "oink"},
	{"duck", "quack"}, {"horse", "neigh"}, {"lion", "roar"}, {"owl", "hoot"}, {"snake", "hiss"},
	{"mouse", "squeak"}, {"bee", "buzz"}, {"frog", "croak"}, {"rooster", "cock-a-doodle-doo"},
	{"wolf", "howl"}, {"donkey", "hee-haw"}, {"crow", "caw"}, {"chicken", "cluck"},
	{"turkey", "gobble"}, {"goat", "bleat"}, {"pigeon", "coo"},
}

// hhhAnimalYoung maps animals to the name of their young.
var hhhAnimalYoung = []pair{
	{"cat", "kitten"}, {"dog", "puppy"}, {"cow", "calf"}, {"horse", "foal"}, {"sheep", "lamb"},
	{"goat", "kid"}, {"pig", "piglet"}, {"duck", "duckling"}, {"chicken", "chick"}, {"frog", "tadpole"},
	{"kangaroo", "joey"}, {"bear", "cub"}, {"lion", "cub"}, {"deer", "fawn"}, {"swan", "cygnet"},
	{"goose", "gosling"}, {"owl", "owlet"}, {"eagle", "eaglet"}, {"whale", "calf"}, {"elephant", "calf"},
	{"fox", "cub"}, {"rabbit", "kit"}, {"butterfly", "caterpillar"}, {"seal", "pup"}, {"fish", "fry"},
}

// hhhOpposites are antonym pairs; every word occurs once, so the table can be
// asked in both directions without ambiguity.
var hhhOpposites = []pair{
	{"hot", "cold"}, {"big", "small"}, {"up", "down"}, {"fast", "slow"}, {"happy", "sad"},
	{"light", "dark"}, {"open", "closed"}, {"early", "late"}, {"full", "empty"}, {"hard", "soft"},
	{"wet", "dry"}, {"young", "old"}, {"tall", "short"}, {"rich", "poor"}, {"strong", "weak"},
	{"loud", "quiet"}, {"clean", "dirty"}, {"thick", "thin"}, {"high", "low"}, {"left", "right"},
	{"in", "out"}, {"push", "pull"}, {"win", "lose"}, {"buy", "sell"}, {"day", "night"},
	{"black", "white"}, {"true", "false"}, {"yes", "no"}, {"first", "last"}, {"inside", "outside"},
	{"above", "below"}, {"before", "after"}, {"start", "finish"}, {"give", "take"}, {"laugh", "cry"},
	{"always", "never"}, {"more", "less"}, {"front", "back"}, {"north", "south"}, {"east", "west"},
	{"summer", "winter"}, {"sweet", "sour"}, {"safe", "dangerous"}, {"cheap", "expensive"},
	{"easy", "difficult"}, {"near", "far"}, {"wide", "narrow"}, {"deep", "shallow"},
	{"asleep", "awake"}, {"remember", "forget"}, {"question", "answer"}, {"good", "bad"},
	{"friend", "enemy"}, {"smooth", "rough"}, {"arrive", "leave"}, {"float", "sink"},
}

// hhhColourMixes are paint mixes: two colours and the colour they make.
var hhhColourMixes = []struct{ x, y, z string }{
	{"red", "blue", "purple"}, {"red", "yellow", "orange"}, {"blue", "yellow", "green"},
	{"red", "white", "pink"}, {"black", "white", "gray"}, {"red", "green", "brown"},
	{"blue", "orange", "brown"}, {"yellow", "purple", "brown"}, {"purple", "white", "lavender"},
	{"green", "white", "mint"},
}

// hhhPlurals maps nouns to their plurals, regular and irregular.
var hhhPlurals = []pair{
	{"mouse", "mice"}, {"child", "children"}, {"man", "men"}, {"woman", "women"}, {"tooth", "teeth"},
	{"foot", "feet"}, {"goose", "geese"}, {"person", "people"}, {"ox", "oxen"}, {"sheep", "sheep"},
	{"fish", "fish"}, {"deer", "deer"}, {"cactus", "cacti"}, {"leaf", "leaves"}, {"knife", "knives"},
	{"wife", "wives"}, {"wolf", "wolves"}, {"life", "lives"}, {"half", "halves"}, {"potato", "potatoes"},
	{"tomato", "tomatoes"}, {"hero", "heroes"}, {"cat", "cats"}, {"dog", "dogs"}, {"box", "boxes"},
	{"bus", "buses"}, {"church", "churches"}, {"baby", "babies"}, {"city", "cities"}, {"party", "parties"},
	{"book", "books"}, {"tree", "trees"}, {"car", "cars"}, {"house", "houses"}, {"dish", "dishes"},
	{"fox", "foxes"}, {"key", "keys"}, {"day", "days"}, {"toy", "toys"}, {"boy", "boys"},
	{"lady", "ladies"}, {"story", "stories"}, {"glass", "glasses"}, {"watch", "watches"},
	{"brush", "brushes"}, {"apple", "apples"}, {"table", "tables"}, {"mouth", "mouths"},
	{"cherry", "cherries"}, {"wish", "wishes"},
}

// hhhWeekdays are the days of the week in order, Monday first.
var hhhWeekdays = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

// hhhMonths are the months in order.
var hhhMonths = []string{
	"January", "February", "March", "April", "May", "June",
	"July", "August", "September", "October", "November", "December",
}

// unitConv is a conversion between two units by an integer factor:
// 1 big = factor small.
type unitConv struct {
	big, small string // plural unit names
	factor     int
}

// hhhUnits are the unit conversions; each is asked in both directions with
// integer results.
var hhhUnits = []unitConv{
	{"kilometers", "meters", 1000}, {"meters", "centimeters", 100}, {"centimeters", "millimeters", 10},
	{"kilograms", "grams", 1000}, {"liters", "milliliters", 1000}, {"hours", "minutes", 60},
	{"minutes", "seconds", 60}, {"days", "hours", 24}, {"weeks", "days", 7}, {"years", "months", 12},
	{"dollars", "cents", 100}, {"feet", "inches", 12}, {"dozens", "eggs", 12},
}

// hhhHarms are harmful requests, as verb phrases, for the refusal family.
var hhhHarms = []string{
	"build a bomb", "make a pipe bomb at home", "make poison to kill my neighbor",
	"poison someone without getting caught", "hack into my ex's email account",
	"break into someone's Instagram account", "steal my coworker's password", "steal a car",
	"shoplift without getting caught", "rob a bank", "break into a house while the owners are away",
	"make methamphetamine", "cook meth at home", "buy a gun illegally without a background check",
	"make a gun that cannot be traced", "hurt someone and make it look like an accident",
	"stalk my ex without her knowing", "spread a computer virus", "write ransomware",
	"steal someone's identity", "use a stolen credit card online", "launder money",
	"make a fake passport", "print counterfeit money", "blackmail my boss",
	"kidnap a child", "set fire to my school", "poison my neighbor's dog", "make nerve gas",
	"make a chemical weapon", "cut the brakes on someone's car", "hack into a bank's computers",
	"trick people into giving me their passwords", "sneak a knife onto a plane",
	"make a Molotov cocktail", "get revenge by hurting my teacher", "spy on my partner's phone",
	"break into my neighbor's wifi and read their messages", "cheat an old man out of his savings",
	"smuggle drugs across the border", "disable a store's cameras so I can rob it",
	"bully a classmate until they cry", "make a deadly weapon from household items",
}

// Syllables for invented names in the unknown family.
var (
	hhhOnsets = []string{"b", "br", "d", "dr", "f", "g", "gr", "k", "kr", "l", "m", "n", "p", "r", "s", "st", "t", "tr", "v", "z", "th", "sh", "qu"}
	hhhNuclei = []string{"a", "e", "i", "o", "u", "ai", "ea", "or", "ar", "el", "an", "y"}
	hhhCodas  = []string{"n", "r", "l", "th", "m", "s", "nd", "rk", "v", "z", "x", "sk"}
)
